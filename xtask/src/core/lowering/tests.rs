use super::*;
use crate::core::linalg::mlir;
use crate::core::workload::parse_command;

fn op(cmd: &str) -> LinalgOp {
    lower(&parse_command(cmd).unwrap())
}

fn reductions(cmd: &str) -> Vec<i64> {
    op(cmd).reduction_extents()
}

const GEOMETRY: &str = "convbfp16 -n 2 -c 512 -H 7 -W 7 -k 2048 -y 3 -x 3 -p 1 -q 1";

#[test]
fn every_direction_reduces_over_what_iree_reduces() {
    // Forward: NHWC reduces over [Y, X, C], NCHW over [C, Y, X].
    assert_eq!(reductions(&format!("{GEOMETRY} -F 1 -I NHWC -f NHWC -O NHWC")), [3, 3, 512]);
    assert_eq!(reductions(&format!("{GEOMETRY} -F 1")), [512, 3, 3]);
    // Backward data: the filter transpose puts the filter loops first in
    // both layouts.
    assert_eq!(reductions(&format!("{GEOMETRY} -F 2 -I NHWC -f NHWC -O NHWC")), [3, 3, 2048]);
    assert_eq!(reductions(&format!("{GEOMETRY} -F 2")), [3, 3, 2048]);
    // Backward weight: image batch and output image.
    assert_eq!(reductions(&format!("{GEOMETRY} -F 4 -I NHWC -f NHWC -O NHWC")), [2, 7, 7]);
    assert_eq!(reductions(&format!("{GEOMETRY} -F 4")), [2, 7, 7]);
}

#[test]
fn roles_by_direction_and_layout() {
    let batch_first = |cmd: &str| {
        let o = op(cmd);
        let d = o.conv_dims().unwrap();
        o.output.position_of(d.batch[0]) == Some(0)
    };
    assert!(batch_first(&format!("{GEOMETRY} -F 1 -I NHWC -f NHWC -O NHWC")));
    assert!(batch_first(&format!("{GEOMETRY} -F 2")));
    // Weight gradients: batch (the input channel) last in NHWC, in the
    // middle in NCHW.
    let wgrad = op(&format!("{GEOMETRY} -F 4 -I NHWC -f NHWC -O NHWC"));
    let d = wgrad.conv_dims().unwrap();
    assert_eq!(wgrad.output.position_of(d.batch[0]), Some(3));
    let wgrad = op(&format!("{GEOMETRY} -F 4"));
    let d = wgrad.conv_dims().unwrap();
    assert_eq!(wgrad.output.position_of(d.batch[0]), Some(1));
}

#[test]
fn groups_add_a_depth_loop() {
    let o = op("convbfp16 -n 2 -c 2048 -H 7 -W 7 -k 512 -y 3 -x 3 -p 1 -q 1 -g 4 -F 1 -I NHWC -f NHWC -O NHWC");
    let d = o.conv_dims().unwrap();
    assert_eq!(d.depth.iter().map(|&l| o.loops[l].extent).collect::<Vec<_>>(), [4]);
    assert_eq!(o.reduction_extents(), [3, 3, 512]);
}

#[test]
fn unit_dims_fold_as_iree_folds_them() {
    // A batch of one: the weight gradient reduces over the image only.
    assert_eq!(
        reductions("convbfp16 -n 1 -c 64 -H 224 -W 224 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC"),
        [224, 224]
    );
    // A 1x1 filter is a contraction; strided, over the strided slice.
    let o = op("convbfp16 -n 16 -c 256 -H 56 -W 56 -k 512 -y 1 -x 1 -u 2 -v 2 -F 4 -I NHWC -f NHWC -O NHWC");
    assert!(o.conv_dims().is_err());
    assert_eq!(o.reduction_extents(), [16, 28, 28]);
    assert_eq!(o.inputs[0].shape, [16, 28, 28, 256]);
    // Depthwise: no output channel left.
    let o = op("convbfp16 -n 32 -c 256 -H 56 -W 56 -k 256 -g 256 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC");
    assert!(o.conv_dims().unwrap().output_channel.is_empty());
}

#[test]
fn one_d_three_d_and_mixed_layouts() {
    assert_eq!(reductions("convbfp16 -_ 1 -n 16 -c 96 -H 48 -k 96 -y 3 -p 1 -F 4 -I NHC -f NHC -O NHC"), [16, 48]);
    assert_eq!(
        reductions("convbfp16 -n 2 -c 32 -! 32 -H 64 -W 64 -k 32 -@ 3 -y 3 -x 3 -$ 1 -p 1 -q 1 -F 4 -I NDHWC -f NDHWC -O NDHWC"),
        [2, 32, 64, 64]
    );
    // NCHW activations with a KYXC filter gradient: IREE's cnhw/cfhw test.
    let o = op("convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NCHW -O NCHW -f NHWC");
    assert_eq!(o.inputs[0].map, vec![vec![(4, 1)], vec![(3, 1)], vec![(1, 1), (5, 1)], vec![(2, 1), (6, 1)]]);
    assert_eq!(o.inputs[1].map, vec![vec![(4, 1)], vec![(0, 1)], vec![(5, 1)], vec![(6, 1)]]);
    assert_eq!(o.output.shape, [64, 3, 3, 16]);
}

#[test]
fn gemm_modes_and_batches() {
    let shape = |cmd: &str| {
        let o = op(cmd);
        (o.loops.iter().map(|l| l.extent).collect::<Vec<_>>(), o.num_parallel())
    };
    assert_eq!(shape("gemmfp16 --a_w 64 --a_h 4096 --b_w 32"), (vec![64, 32, 4096], 2));
    assert_eq!(shape("gemmfp16 --a_w 64 --a_h 4096 --b_w 32 -F 2"), (vec![64, 4096, 32], 2));
    assert_eq!(shape("gemmfp16 --a_w 64 --a_h 4096 --b_w 32 -F 3"), (vec![4096, 32, 64], 2));
    assert_eq!(shape(r#"aten::bmm "[[8, 64, 4096], [8, 4096, 32]]""#), (vec![8, 64, 32, 4096], 3));
    // A unit batch folds away.
    assert_eq!(shape(r#"aten::bmm "[[1, 64, 4096], [1, 4096, 32]]""#), (vec![64, 32, 4096], 2));
}

#[test]
fn mlir_of_the_brief_example() {
    let text = mlir::function(
        "wrw",
        &op("convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NHWC -f NHWC -O NHWC"),
    );
    insta::assert_snapshot!("brief_wrw_nhwc", text);
}
