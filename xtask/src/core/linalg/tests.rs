use super::read::read_cases;
use super::*;

/// A weight-gradient convolution in the batch-last form IREE's tests use,
/// then a matmul, written for this test.
const TEXT: &str = r#"
#a = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d1 + d5 * 2, d2 + d6, d3)>
#b = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5, d6, d0)>
#c = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>
util.func public @wgrad(%x: tensor<8x20x12x4xf32>, %g: tensor<8x9x10x6xf32>, %o: tensor<6x3x3x4xf32>) -> tensor<6x3x3x4xf32> {
  %0 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %g : tensor<8x20x12x4xf32>, tensor<8x9x10x6xf32>) outs(%o : tensor<6x3x3x4xf32>) {
  } -> tensor<6x3x3x4xf32>
  util.return %0 : tensor<6x3x3x4xf32>
}
// -----
util.func public @mm(%a: tensor<?x64xbf16>, %b: tensor<64x32xbf16>, %c: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<?x64xbf16>, tensor<64x32xbf16>) outs(%c : tensor<?x32xf32>) -> tensor<?x32xf32>
  util.return %0 : tensor<?x32xf32>
}
"#;

#[test]
fn convolution_roles_as_mlir_infers_them() {
    let cases = read_cases(TEXT);
    assert_eq!(cases.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["wgrad", "mm"]);
    let op = cases[0].op.clone().unwrap();
    assert_eq!(op.loops.iter().map(|l| l.extent).collect::<Vec<_>>(), [6, 3, 3, 4, 8, 9, 10]);
    let d = op.conv_dims().unwrap();
    // Batch-last: the input channel of the forward convolution (d3) is
    // this op's batch, its image batch (d4) the input channel.
    assert_eq!((d.batch, d.output_channel, d.output_image), (vec![3], vec![0], vec![1, 2]));
    assert_eq!((d.filter_loop, d.input_channel, d.depth), (vec![5, 6], vec![4], vec![]));
    assert_eq!(op.reduction_extents(), [8, 9, 10]);
    // As a contraction, only the loops both inputs read bare count.
    let c = op.contraction_dims();
    assert_eq!((c.m, c.n, c.k), (vec![3], vec![0], vec![4]));
}

#[test]
fn matmuls_and_dynamic_sizes() {
    let op = read_cases(TEXT)[1].op.clone().unwrap();
    assert_eq!(op.loops[0].extent, DYNAMIC);
    assert!(op.has_dynamic_loop() && op.inputs[0].is_dynamic() && !op.inputs[1].is_dynamic());
    assert!(op.conv_dims().is_err());
    let c = op.contraction_dims();
    assert_eq!((c.batch, c.m, c.n, c.k), (vec![], vec![0], vec![1], vec![2]));
}

#[test]
fn unit_loops_fold_away() {
    let mut op = read_cases(TEXT)[0].op.clone().unwrap();
    // A 1-wide filter (d2 = 1) and a batch of one (d4 = 1).
    op.loops[2].extent = 1;
    op.loops[4].extent = 1;
    op.output.shape[2] = 1;
    op.inputs[0].shape[0] = 1;
    op.inputs[1].shape[0] = 1;
    let folded = op.fold_unit_loops();
    assert_eq!(folded.loops.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["d0", "d1", "d3", "d5", "d6"]);
    // `d2 + d6` lost its unit term: a plain read of the image loop over its
    // own extent; the batch's dims are gone.
    assert_eq!(folded.inputs[0].map, vec![vec![(1, 1), (3, 2)], vec![(4, 1)], vec![(2, 1)]]);
    assert_eq!(folded.inputs[0].shape, [20, 10, 4]);
    assert_eq!(folded.output.shape, [6, 3, 4]);
    assert_eq!(folded.reduction_extents(), [9, 10]);
}

#[test]
fn printed_mlir_reads_back_as_the_same_op() {
    let op = read_cases(TEXT)[0].op.clone().unwrap();
    let text = mlir::function("again", &op);
    let back = read_cases(&text)[0].op.clone().unwrap();
    assert_eq!(
        back.loops.iter().map(|l| (l.extent, l.iter)).collect::<Vec<_>>(),
        op.loops.iter().map(|l| (l.extent, l.iter)).collect::<Vec<_>>()
    );
    assert_eq!(back.operands().map(|o| o.map.clone()), op.operands().map(|o| o.map.clone()));
    assert!(text.contains("iterator_types = [\"parallel\", \"parallel\", \"parallel\", \"parallel\", \"reduction\", \"reduction\", \"reduction\"]"));
    assert!(text.contains("(d4, d1 + d5 * 2, d2 + d6, d3)"), "{text}");
}
