use super::*;
use crate::core::testdata::{CURRENT, INLINE_2025};
use crate::core::workload::parse_command;

fn pass(source: &str) -> Pass {
    Pass::from_source(
        source,
        &FunctionNames::iree_defaults(Heuristic::Conv),
        &FunctionNames::iree_defaults(Heuristic::Matmul),
    )
}

fn tiles(source: &str, cmd: &str) -> Prediction {
    predict_op(&parse_command(cmd).unwrap(), &pass(source), false)
}

const WRW: &str = "convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC";
const FWD: &str = "convbfp16 -n 2 -c 2048 -H 7 -W 7 -k 512 -y 3 -x 3 -p 1 -q 1 -F 1 -I NHWC -f NHWC -O NHWC";

#[test]
fn the_fixture_in_both_styles() {
    let p = tiles(CURRENT, WRW);
    assert_eq!((p.decision.tile_sizes, p.by), (Some(vec![1, 45, 225]), Some(Heuristic::Conv)));
    let p = tiles(CURRENT, "gemmfp16 --a_w 64 --a_h 65536 --b_w 64");
    assert_eq!((p.decision.tile_sizes, p.by), (Some(vec![512]), Some(Heuristic::Matmul)));
    // The 2025 fixture takes batch-last layouts only, and its matmul
    // function takes contractions only: a forward convolution is not split.
    let p = tiles(INLINE_2025, FWD);
    assert_eq!((p.decision.tile_sizes.clone(), p.decision.unknown.clone()), (None, None));
    assert_eq!(p.refusals.len(), 2, "{p:?}");
    assert!(tiles(INLINE_2025, WRW).decision.tile_sizes.is_some());
}

/// An upstream-style file written for this test: a layout check, a refusal
/// inside loops over the op's dims, a tile set without a ladder, and a
/// matmul function with an inline ladder.
const UPSTREAM_STYLE: &str = r#"
static std::optional<SmallVector<int64_t>>
getWeightBackwardReductionSizes(PartialReductionOpInterface op) {
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op.getOperation());
  if (!linalgOp || !linalg::isaConvolutionOpInterface(linalgOp)) {
    return std::nullopt;
  }
  FailureOr<mlir::linalg::ConvolutionDimensions> convDims = mlir::linalg::inferConvolutionDims(linalgOp);
  if (failed(convDims)) {
    return std::nullopt;
  }
  SmallVector<int64_t> batchPos = getDimPositions(convDims->batch, outputMap);
  if (batchPos.back() != outputShape.size() - 1) {
    return std::nullopt;
  }
  const int64_t smallDimSize = 32;
  for (auto dim : convDims->filterLoop) {
    for (auto [idx, e] : llvm::enumerate(inputMap.getResults())) {
      if (e.isFunctionOfDim(dim) && inputShape[idx] < smallDimSize) {
        return std::nullopt;
      }
    }
  }
  SmallVector<int64_t> tileSizes = std::move(*maybeSizes);
  int64_t cDim = 0;
  tileSizes[cDim] = std::ceil(float(tileSizes[cDim]) / 8);
  return tileSizes;
}

static std::optional<SmallVector<int64_t>>
getMatmulLikeReductionSizes(PartialReductionOpInterface op) {
  if (linalgOp.getNumParallelLoops() < 2) {
    return std::nullopt;
  }
  const int64_t largeKSize = 1000;
  if (kSize < largeKSize) {
    return std::nullopt;
  }
  int64_t limitParallelLoops;
  if (outputSize < 1024) {
    limitParallelLoops = 64;
  } else {
    limitParallelLoops = 4;
  }
  for (int64_t i = 0; i < tileSizes.size(); i++) {
  }
  return tileSizes;
}
"#;

#[test]
fn every_kind_of_condition_of_the_upstream_file() {
    // Batch last, image not small: the first tile is ceil(16 / 8).
    let p = tiles(UPSTREAM_STYLE, WRW);
    assert_eq!((p.decision.tile_sizes, p.by), (Some(vec![2, 225, 225]), Some(Heuristic::Conv)));
    // A padded input of 30 rows: the refusal inside the loops fires, and the
    // matmul function finds K = N = 16 too small.
    let p = tiles(
        UPSTREAM_STYLE,
        "convbfp16 -n 16 -c 16 -H 28 -W 28 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC",
    );
    assert_eq!(p.decision.tile_sizes, None);
    assert!(p.refusals[0].contains("inputShape[idx] < smallDimSize"), "{p:?}");
    // Batch first: refused by the layout check, split by the matmul
    // function over every reduction loop (outputSize = 2 * 512: limit 4).
    let p = tiles(UPSTREAM_STYLE, FWD);
    assert_eq!((p.decision.tile_sizes.clone(), p.by), (Some(vec![1, 3, 2048]), Some(Heuristic::Matmul)));
    assert!(p.refusals[0].contains("batchPos.back() != outputShape.size() - 1"), "{p:?}");
}

#[test]
fn a_condition_the_tuner_cannot_read_is_unknown_with_its_line() {
    let source = UPSTREAM_STYLE.replace("if (failed(convDims)) {", "if (failed(convDims) || mystery(op)) {");
    let p = tiles(&source, WRW);
    let why = p.decision.unknown.unwrap();
    assert!(why.contains("line 9") && why.contains("`mystery(op)` is not a quantity the tuner knows"), "{why}");
}

#[test]
fn the_owner_of_an_op_at_a_revision() {
    let shape = |cmd: &str| crate::core::workload::parse_commands(cmd).0.remove(0);
    // The forward convolution is the matmul function's in the upstream
    // style file, the convolution function's in the fixture.
    assert_eq!(retarget(shape(FWD), &pass(UPSTREAM_STYLE)).features.heuristic, Heuristic::Matmul);
    assert_eq!(retarget(shape(FWD), &pass(CURRENT)).features.heuristic, Heuristic::Conv);
}
