//! [`LinalgOp`] as MLIR text: one `util.func` per op holding a
//! `linalg.generic` with a multiply-accumulate body, the form `iree-opt`
//! runs the split-reduction pass on (the pass reads only loops, maps and
//! shapes; the body, element types and surrounding ops do not change its
//! answer). `util.func` because the pass pipeline `check-model` runs is
//! anchored on it.

use super::{Iter, LinalgOp, Operand, DYNAMIC};
use std::fmt::Write;

fn tensor_type(shape: &[i64], element: &str) -> String {
    let mut t = String::from("tensor<");
    for &d in shape {
        if d == DYNAMIC {
            t.push_str("?x");
        } else {
            let _ = write!(t, "{d}x");
        }
    }
    t.push_str(element);
    t.push('>');
    t
}

fn map_text(loops: usize, operand: &Operand) -> String {
    let dims: Vec<String> = (0..loops).map(|l| format!("d{l}")).collect();
    let results: Vec<String> = operand
        .map
        .iter()
        .map(|r| {
            r.iter()
                .map(|&(l, c)| if c == 1 { format!("d{l}") } else { format!("d{l} * {c}") })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    format!("affine_map<({}) -> ({})>", dims.join(", "), results.join(", "))
}

/// The op as one public `util.func` named `name`.
pub(crate) fn function(name: &str, op: &LinalgOp) -> String {
    let el = op.element.as_str();
    let (xt, wt) = (tensor_type(&op.inputs[0].shape, el), tensor_type(&op.inputs[1].shape, el));
    let ot = tensor_type(&op.output.shape, "f32");
    let maps: Vec<String> = op.operands().iter().map(|o| map_text(op.loops.len(), o)).collect();
    let iters: Vec<&str> = op
        .loops
        .iter()
        .map(|l| match l.iter {
            Iter::Parallel => "\"parallel\"",
            Iter::Reduction => "\"reduction\"",
        })
        .collect();
    let extend = if el == "f32" {
        "    %m = arith.mulf %a, %b : f32\n".to_string()
    } else {
        format!(
            "    %a32 = arith.extf %a : {el} to f32\n    %b32 = arith.extf %b : {el} to f32\n    \
             %m = arith.mulf %a32, %b32 : f32\n"
        )
    };
    format!(
        "util.func public @{name}(%x: {xt}, %w: {wt}) -> {ot} {{\n  \
         %z = arith.constant 0.0 : f32\n  %e = tensor.empty() : {ot}\n  \
         %o = linalg.fill ins(%z : f32) outs(%e : {ot}) -> {ot}\n  \
         %r = linalg.generic {{indexing_maps = [{}], iterator_types = [{}]}} \
         ins(%x, %w : {xt}, {wt}) outs(%o : {ot}) {{\n  \
         ^bb0(%a: {el}, %b: {el}, %acc: f32):\n{extend}    %s = arith.addf %acc, %m : f32\n    \
         linalg.yield %s : f32\n  }} -> {ot}\n  util.return %r : {ot}\n}}\n",
        maps.join(", "),
        iters.join(", ")
    )
}
