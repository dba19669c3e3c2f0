//! What the heuristic's C++ asks about an op, answered from the op.
//!
//! The conditions of every revision read the op through MLIR calls and
//! locals whose spelling is stable across revisions: `failed(convDims)`,
//! `convDims->batch.empty()`, `batchPos.front()`,
//! `ShapedType::isDynamicShape(inputShape)`, `linalgOp.getNumParallelLoops()`,
//! `outputShape[batchLastDim.value()]`, `e.isFunctionOfDim(dim)`. This module
//! is that vocabulary: a spelling in, a number (or a list) out, computed from
//! the [`LinalgOp`] the way MLIR and the heuristic's own lambdas compute it.
//! A spelling it does not know is `None`, and the model then says the
//! condition cannot be evaluated and why. The bundled fixture's spellings
//! (`op.kind`, `hasRole(op, DimRole::batch)`) are here too: the fixture is a
//! compiler the tuner tunes like any other.

use crate::core::linalg::{ContractionDims, ConvDims, LinalgOp, Operand, DYNAMIC};

/// The op and its roles.
pub(crate) struct Facts<'a> {
    op: &'a LinalgOp,
    conv: Result<ConvDims, String>,
    contraction: ContractionDims,
}

/// The fixture's `DimRole` values (any distinct numbers do).
const ROLES: [&str; 9] =
    ["batch", "outputImage", "outputChannel", "filterLoop", "inputChannel", "depth", "m", "n", "k"];

fn role_code(role: &str) -> Option<i64> {
    ROLES.iter().position(|r| *r == role).map(|i| i as i64 + 1)
}

/// The fixture's `OpKind` values: an op is a convolution if MLIR calls it
/// one, else a contraction.
const KIND_CONVOLUTION: i64 = 1;
const KIND_CONTRACTION: i64 = 2;

impl<'a> Facts<'a> {
    pub(crate) fn new(op: &'a LinalgOp) -> Facts<'a> {
        Facts { op, conv: op.conv_dims(), contraction: op.contraction_dims() }
    }

    fn conv_role(&self, role: &str) -> Option<&[usize]> {
        let d = self.conv.as_ref().ok()?;
        Some(match role {
            "batch" => &d.batch,
            "outputImage" => &d.output_image,
            "outputChannel" => &d.output_channel,
            "filterLoop" => &d.filter_loop,
            "inputChannel" => &d.input_channel,
            "depth" => &d.depth,
            _ => return None,
        })
    }

    fn operand(&self, name: &str) -> Option<&Operand> {
        Some(match name {
            "input" | "inputShape" | "inputMap" => &self.op.inputs[0],
            "filter" | "filterShape" | "filterMap" => &self.op.inputs[1],
            "output" | "outputShape" | "outputMap" => &self.op.output,
            _ => return None,
        })
    }

    /// `getDimPositions(convDims->role, map)`: sorted result positions.
    fn positions(&self, role: &str, operand: &Operand) -> Option<Vec<i64>> {
        let mut p: Vec<i64> =
            self.conv_role(role)?.iter().filter_map(|&l| operand.position_of(l)).map(|p| p as i64).collect();
        p.sort();
        Some(p)
    }

    /// Lists a condition may index or call `front()`/`back()`/`empty()`/
    /// `size()` on, and ranges a `for` loop may walk.
    pub(crate) fn list(&self, name: &str) -> Option<Vec<i64>> {
        if let Some(operand) = name.strip_suffix("Shape").and_then(|o| self.operand(o)) {
            return Some(operand.shape.clone());
        }
        if let Some(role) = name.strip_prefix("convDims->") {
            return Some(self.conv_role(role)?.iter().map(|&l| l as i64).collect());
        }
        if let Some(map) = name.strip_suffix(".getResults()").and_then(|m| self.operand(m)) {
            return Some((0..map.map.len() as i64).collect());
        }
        match name {
            "shapes" => Some(self.op.loops.iter().map(|l| l.extent).collect()),
            // The fixture's output map: the loop of each output dim.
            "op.outputMap" => {
                Some(self.op.output.map.iter().filter_map(|r| r.first()).map(|&(l, _)| l as i64).collect())
            }
            "batchPos" => self.positions("batch", &self.op.output),
            "outputChannelPos" => self.positions("outputChannel", &self.op.output),
            "outputImagePos" => self.positions("outputImage", &self.op.output),
            "depthPos" => self.positions("depth", &self.op.output),
            "inputChannelPos" => self.positions("inputChannel", &self.op.inputs[1]),
            "filterPos" => self.positions("filterLoop", &self.op.inputs[1]),
            _ => None,
        }
    }

    /// rev 1's single positions: `batchLastDim` (of the last batch loop in
    /// the output), `inputChannelDim` and `filterDim` (first of each in the
    /// filter), `outputChannelDim` (first output channel in the output).
    fn single_position(&self, name: &str) -> Option<Option<i64>> {
        let (role, operand, last) = match name {
            "batchLastDim" => ("batch", &self.op.output, true),
            "inputChannelDim" => ("inputChannel", &self.op.inputs[1], false),
            "filterDim" => ("filterLoop", &self.op.inputs[1], false),
            "outputChannelDim" => ("outputChannel", &self.op.output, false),
            _ => return None,
        };
        let loops = self.conv_role(role)?;
        let l = if last { loops.last() } else { loops.first() };
        Some(l.and_then(|&l| operand.position_of(l)).map(|p| p as i64))
    }

    /// A scalar by its spelling.
    pub(crate) fn scalar(&self, spelling: &str) -> Option<i64> {
        if let Some(p) = self.single_position(spelling.trim_end_matches(".value()")) {
            return match spelling.ends_with(".value()") {
                true => p,
                false => Some(i64::from(p.is_some())),
            };
        }
        if let Some(v) = self.mlir_scalar(spelling) {
            return Some(v);
        }
        self.fixture_scalar(spelling)
    }

    fn mlir_scalar(&self, spelling: &str) -> Option<i64> {
        let is_conv = self.conv.is_ok();
        if let Some(role) = spelling.strip_prefix("convDims->").and_then(|s| s.strip_suffix(".empty()")) {
            return Some(i64::from(self.conv_role(role)?.is_empty()));
        }
        if let Some(operand) = spelling.strip_prefix("isDynamicShape(").and_then(|s| s.strip_suffix(')')) {
            return Some(i64::from(self.operand(operand)?.is_dynamic()));
        }
        Some(match spelling {
            // The pass hands every op it visits to the function as a linalg
            // op, and getReductionDimSizes answers for any of them.
            "linalgOp" | "maybeSizes" | "op" => 1,
            "isaConvolutionOpInterface(linalgOp)" | "convDims" => i64::from(is_conv),
            "failed(convDims)" => i64::from(!is_conv),
            // inferContractionDims only fails on the operand count.
            "maybeContractionDims" => 1,
            "failed(maybeContractionDims)" => 0,
            "linalgOp.getNumParallelLoops()" => self.op.num_parallel() as i64,
            "linalgOp.getNumLoops()" => self.op.loops.len() as i64,
            "any_of(shapes, ShapedType::isDynamic)" => i64::from(self.op.has_dynamic_loop()),
            "ShapedType::kDynamic" => DYNAMIC,
            _ => return None,
        })
    }

    fn fixture_scalar(&self, spelling: &str) -> Option<i64> {
        if let Some(role) = spelling.strip_prefix("DimRole::") {
            return role_code(role);
        }
        if let Some(role) = spelling.strip_prefix("hasRole(op, DimRole::").and_then(|s| s.strip_suffix(')')) {
            let present = match (self.conv.is_ok(), role) {
                (true, r) => self.conv_role(r).is_some_and(|l| !l.is_empty()),
                (false, "batch") => !self.contraction.batch.is_empty(),
                (false, "m") => !self.contraction.m.is_empty(),
                (false, "n") => !self.contraction.n.is_empty(),
                (false, "k") => !self.contraction.k.is_empty(),
                _ => false,
            };
            return Some(i64::from(present));
        }
        Some(match spelling {
            "op.kind" if self.conv.is_ok() => KIND_CONVOLUTION,
            "op.kind" => KIND_CONTRACTION,
            "OpKind::convolution" => KIND_CONVOLUTION,
            "OpKind::contraction" => KIND_CONTRACTION,
            "OpKind::other" => 0,
            "OpKind::argCompare" => 3,
            "numParallelLoops" => self.op.num_parallel() as i64,
            _ => return None,
        })
    }

    /// The fixture's `op.loops[l].role`, as a code `DimRole::name` equals.
    pub(crate) fn role_of(&self, l: usize) -> Option<i64> {
        let named: Vec<(&str, &[usize])> = match &self.conv {
            Ok(d) => vec![
                ("batch", &d.batch),
                ("outputImage", &d.output_image),
                ("outputChannel", &d.output_channel),
                ("filterLoop", &d.filter_loop),
                ("inputChannel", &d.input_channel),
                ("depth", &d.depth),
            ],
            Err(_) => {
                let c = &self.contraction;
                vec![("batch", &c.batch), ("m", &c.m), ("n", &c.n), ("k", &c.k)]
            }
        };
        let (role, _) = named.iter().find(|(_, loops)| loops.contains(&l))?;
        role_code(role)
    }

    /// `map.getResults()[result].isFunctionOfDim(loop)`.
    pub(crate) fn is_function_of(&self, map: &str, result: usize, l: usize) -> Option<bool> {
        let operand = self.operand(map)?;
        (result < operand.map.len() && l < self.op.loops.len()).then(|| operand.is_function_of(result, l))
    }
}
