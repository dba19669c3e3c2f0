use super::*;

fn feat(cmd: &str) -> Features {
    features(&parse_command(cmd).unwrap()).unwrap()
}

// The BRIEF's pinned example: weight backward, batch-last.
#[test]
fn weight_backward_conv_features() {
    let f = feat("convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
    assert_eq!(f.heuristic, Heuristic::Conv);
    // outputSize = K*Y*X*Cg, reductionSize = N*Ho*Wo, parallelSize = Kg*Cg.
    assert_eq!(f.output_size, 64 * 3 * 3 * 16);
    assert_eq!(f.reduction_size, 16 * 225 * 225);
    assert_eq!(f.vars["parallelSize"], 64 * 16);
    assert_eq!(f.reduction_dims, vec![16, 225, 225]);
    assert_eq!(f.walk, Walk::OuterToInner);
    assert_eq!(f.start_tile_size, 16);
    // 810000 / sqrt(1024) = 25312.5, truncated.
    assert_eq!(f.vars["ratio"], 25312);
}

#[test]
fn strided_weight_backward_uses_output_spatial() {
    // Ho = floor((56 + 2 - 2 - 1)/2) + 1 = 28.
    let f = feat("convbfp16 -n 16 -c 128 -H 56 -W 56 -k 128 -y 3 -x 3 -p 1 -q 1 -u 2 -v 2 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
    assert_eq!(f.output_size, 128 * 3 * 3 * 128);
    assert_eq!(f.reduction_size, 16 * 28 * 28);
    assert_eq!(f.reduction_dims, vec![16, 28, 28]);
}

#[test]
fn forward_conv_features() {
    // 7x7 stride 2 pad 3 on 224: Ho = floor((224 + 6 - 6 - 1)/2) + 1 = 112.
    let f = feat("convbfp16 -n 16 -c 3 -H 224 -W 224 -k 64 -y 7 -x 7 -p 3 -q 3 -u 2 -v 2 -F 1 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
    assert_eq!(f.output_size, 16 * 112 * 112 * 64);
    assert_eq!(f.reduction_size, 7 * 7 * 3);
    assert_eq!(f.vars["parallelSize"], 64 * 112 * 112);
    assert_eq!(f.reduction_dims, vec![7, 7, 3]);
    assert_eq!(f.walk, Walk::InnerToOuter);
    assert_eq!(f.start_tile_size, 3);
}

#[test]
fn backward_data_conv_features() {
    let f = feat("convbfp16 -n 16 -c 64 -H 56 -W 56 -k 128 -y 3 -x 3 -p 1 -q 1 -F 2 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
    // outputSize = N*H*W*C, reductionSize = Y*X*Kg, parallelSize = Cg*H*W.
    assert_eq!(f.output_size, 16 * 56 * 56 * 64);
    assert_eq!(f.reduction_size, 3 * 3 * 128);
    assert_eq!(f.vars["parallelSize"], 64 * 56 * 56);
    assert_eq!(f.start_tile_size, 128);
}

#[test]
fn grouped_conv_divides_channels() {
    let f = feat("convbfp16 -n 8 -c 64 -H 32 -W 32 -k 128 -y 3 -x 3 -p 1 -q 1 -g 4 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
    // Cg = 16, Kg = 32; outputSize = K*Y*X*Cg.
    assert_eq!(f.output_size, 128 * 9 * 16);
    assert_eq!(f.vars["parallelSize"], 32 * 16);
    assert_eq!(f.reduction_size, 8 * 32 * 32);
}

#[test]
fn nchw_forward_walks_filter_last() {
    let f = feat("convbfp16 -n 2 -c 8 -H 16 -W 16 -k 4 -y 3 -x 5 -F 1");
    assert_eq!(f.reduction_dims, vec![8, 3, 5]);
    assert_eq!(f.start_tile_size, 5);
}

#[test]
fn one_by_one_convs_take_the_matmul_path() {
    let f = feat("convbfp16 -n 16 -c 256 -H 56 -W 56 -k 64 -y 1 -x 1 -p 0 -q 0 -F 4 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
    assert_eq!(f.heuristic, Heuristic::Matmul);
    // M*N = Kg*Cg, K = N*Ho*Wo.
    assert_eq!(f.output_size, 64 * 256);
    assert_eq!(f.reduction_size, 16 * 56 * 56);
    assert_eq!(f.reduction_dims, vec![16, 56, 56]);
    // K / sqrt(M*N) = 50176 / 128 = 392.
    assert_eq!(f.vars["ratio"], 392);

    let f = feat("convbfp16 -n 16 -c 256 -H 56 -W 56 -k 512 -y 1 -x 1 -u 2 -v 2 -F 1 --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
    assert_eq!(f.heuristic, Heuristic::Matmul);
    // M = N*Ho*Wo, N = Kg, K = Cg.
    assert_eq!(f.vars["mSize"], 16 * 28 * 28);
    assert_eq!(f.vars["nSize"], 512);
    assert_eq!(f.reduction_size, 256);
}

#[test]
fn gemm_features() {
    let f = feat("gemmfp16 --a_w 768 --a_h 16384 --b_w 3072 -t 1 --iter 100");
    assert_eq!(f.heuristic, Heuristic::Matmul);
    assert_eq!(f.output_size, 768 * 3072);
    assert_eq!(f.reduction_size, 16384);
    // 16384 / sqrt(768*3072) = 16384 / 1536 = 10.67 -> 10.
    assert_eq!(f.vars["ratio"], 10);
    assert_eq!(f.vars["mSize"], 768);
    assert_eq!(f.vars["nSize"], 3072);
}

#[test]
fn aten_mm_and_bmm() {
    let f = feat(r#"aten::mm "[[64, 65536], [65536, 32]]" "['c10::BFloat16', 'c10::BFloat16']""#);
    assert_eq!(f.output_size, 64 * 32);
    assert_eq!(f.reduction_size, 65536);
    let f = feat(r#"aten::bmm "[[4, 64, 8192], [4, 8192, 16]]" "['float', 'float']""#);
    assert_eq!(f.output_size, 4 * 64 * 16);
    assert_eq!(f.vars["batchSize"], 4);
    // 8192 / sqrt(1024) / 4 = 64.
    assert_eq!(f.vars["ratio"], 64);
}

#[test]
fn bad_lines_say_why() {
    let (shapes, bad) = parse_commands(
        "# comment\n\nconvbfp16 -n 16 -c 3 -F 4\nlayernorm -n 3\nconvbfp16 -n x\nconvbfp16 -c 6 -k 4 -g 4\n",
    );
    assert_eq!(shapes.len(), 1);
    assert_eq!(shapes[0].line, 3);
    let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![4, 5, 6]);
    assert!(bad[0].error.contains("unsupported op `layernorm`"), "{}", bad[0].error);
    assert!(bad[1].error.contains("-n"), "{}", bad[1].error);
    assert!(bad[2].error.contains("divisible"), "{}", bad[2].error);
    assert!(parse_command("convbfp16 -F 3").unwrap_err().contains("one line per direction"));
}

fn error(cmd: &str) -> String {
    parse_command(cmd).and_then(|op| features(&op)).unwrap_err()
}

#[test]
fn one_and_three_spatial_dims() {
    // 1-D from --spatial_dim or from a 3-letter layout; H is its dim.
    let f = feat("convbfp16 -_ 1 -n 16 -c 96 -H 48 -k 96 -y 3 -p 1 -F 4");
    assert_eq!(f.reduction_dims, vec![16, 48]);
    assert_eq!(f.output_size, 96 * 3 * 96);
    assert_eq!(
        feat("convbfp16 -n 16 -c 96 -H 48 -k 96 -y 3 -p 1 -F 4 -I NHC -f NHC -O NHC").reduction_dims,
        vec![16, 48]
    );
    let f = feat("conv -n 2 -c 32 -! 16 -H 16 -W 16 -k 64 -@ 3 -y 3 -x 3 -F 1 -I NDHWC -f NDHWC -O NDHWC");
    assert_eq!(f.reduction_dims, vec![3, 3, 3, 32]);
    assert_eq!(f.output_size, 2 * 14 * 14 * 14 * 64);
}

#[test]
fn every_layout_order_and_mixed_layouts() {
    // NCHW activations, KYXC filter gradient.
    let f = feat("convbfp16 -n 16 -c 16 -H 225 -W 225 -k 64 -y 3 -x 3 -p 1 -q 1 -F 4 -I NCHW -O NCHW -f NHWC");
    assert_eq!(
        (f.heuristic, f.reduction_dims.clone(), f.walk),
        (Heuristic::Conv, vec![16, 225, 225], Walk::OuterToInner)
    );
    // Any order of the letters parses; a wrong letter or rank does not.
    assert!(parse_command("convbfp16 -F 1 -I NWHC -f CHWN -O HWNC").is_ok());
    assert!(error("convbfp16 -I NHWD").contains("not an order of the letters"), "{}", error("convbfp16 -I NHWD"));
    assert!(error("convbfp16 -I NHWC -f NCDHW").contains("different ranks"));
}

#[test]
fn dynamic_sizes_are_named() {
    for cmd in [
        "convbfp16 -n ? -c 16 -F 1",
        "gemmfp16 --a_w -1 --a_h 4096 --b_w 32",
        r#"aten::mm "[[s0, 4096], [4096, 32]]""#,
        r#"aten::bmm "[[-1, 64, 4096], [8, 4096, 32]]""#,
    ] {
        assert!(error(cmd).contains("dynamic size"), "{cmd}: {}", error(cmd));
    }
}

#[test]
fn overflowing_sizes_are_line_errors_naming_the_flags() {
    let e = error("convbfp16 -n 4611686018427387904 -c 16 -H 225 -W 225 -k 64 -F 4");
    assert!(e.contains("`-n 4611686018427387904`") && e.contains("int64_t"), "{e}");
    let e = error("gemmfp16 --a_w 4294967296 --a_h 4294967296 --b_w 4294967296");
    assert!(e.contains("`--a_w 4294967296`") && e.contains("int64_t"), "{e}");
    let e = error("convbfp16 -n 2 -c 16 -H 9223372036854775807 -p 1 -F 1");
    assert!(e.contains("`-H 9223372036854775807`") && e.contains("`-p 1`"), "{e}");
    // As bad lines, with or without --skip-bad-lines (the caller's choice).
    let (shapes, bad) = parse_commands("gemmfp16 --a_w 4294967296 --a_h 16 --b_w 4294967296\ngemmfp16 --a_w 64\n");
    assert_eq!((shapes.len(), bad.len(), bad[0].line), (1, 1, 1));
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_command() {
    let (shapes, bad) = parse_commands("\u{feff}convbfp16 -n 16 -c 16 -H 32 -W 32 -k 16 -F 4\n");
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(shapes.len(), 1);
}

#[test]
fn gemm_modes_and_aten_matmuls() {
    // dA = dC * B^T reduces over N; dB = A^T * dC over M.
    assert_eq!(feat("gemmfp16 --a_w 64 --a_h 4096 --b_w 32 -F 2").reduction_size, 32);
    assert_eq!(feat("gemmfp16 --a_w 64 --a_h 4096 --b_w 32 -F 3").reduction_size, 64);
    let f = feat(r#"aten::baddbmm "[[4, 64, 16], [4, 64, 8192], [4, 8192, 16]]" "['float']""#);
    assert_eq!((f.vars["batchSize"], f.output_size, f.reduction_size), (4, 4 * 64 * 16, 8192));
    // A 3-D operand times a 2-D one: its batch joins M.
    let f = feat(r#"aten::matmul "[[4, 64, 8192], [8192, 16]]""#);
    assert_eq!((f.vars["mSize"], f.vars["batchSize"]), (256, 1));
    let f = feat(r#"aten::linear "[[2, 128, 4096], [512, 4096], [512]]""#);
    assert_eq!((f.vars["mSize"], f.vars["nSize"], f.reduction_size), (256, 512, 4096));
}

#[test]
fn a_convolution_carries_the_matmul_view_of_it() {
    let f = feat("convbfp16 -n 2 -c 20000 -H 200 -W 200 -k 16 -y 3 -x 3 -p 1 -q 1 -F 1 -I NHWC -f NHWC -O NHWC");
    let m = f.seen_by(Heuristic::Matmul).unwrap();
    // M is the batch, N the output channels, K the input channels; every
    // reduction loop is still tiled.
    assert_eq!((m.vars["mSize"], m.vars["nSize"], m.reduction_size), (2, 16, 20000));
    assert_eq!(m.reduction_dims, vec![3, 3, 20000]);
}

#[test]
fn short_commands_keep_what_makes_the_shape() {
    let conv = "convbfp16 -n 16 -c 3 -H 224 -W 224 -k 64 -y 7 -x 7 -p 3 -q 3 -u 2 -v 2 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC";
    assert_eq!(short_command(conv), "convbfp16 -n 16 -c 3 -H 224 -W 224 -k 64 -y 7 -x 7 -p 3 -q 3 -u 2 -v 2 -F 4 NHWC");
    // Defaults dropped, the rest kept: the short form parses to the
    // same shape.
    let short = short_command(conv).replace(" NHWC", " --in_layout NHWC --out_layout NHWC --fil_layout NHWC");
    assert_eq!(feat(&short), feat(conv));
    let unit = "convbfp16 -n 16 -c 64 -H 56 -W 56 -k 64 -y 1 -x 1 -p 0 -q 0 -u 1 -v 1 -l 1 -j 1 -m conv -g 1 -F 4 -t 1 --iter 100 --in_layout NHWC --out_layout NHWC --fil_layout NHWC";
    assert_eq!(short_command(unit), "convbfp16 -n 16 -c 64 -H 56 -W 56 -k 64 -y 1 -x 1 -F 4 NHWC");
    assert_eq!(short_command("convbfp16 -n 2 -c 8 -g 2 -F 1"), "convbfp16 -n 2 -c 8 -g 2 -F 1");
    assert_eq!(
        short_command("gemmfp16 --a_w 768 --a_h 16384 --b_w 768 -t 1 --iter 100"),
        "gemmfp16 --a_w 768 --a_h 16384 --b_w 768"
    );
    assert_eq!(
        short_command(r#"aten::mm "[[64, 65536], [65536, 32]]" "['c10::BFloat16', 'c10::BFloat16']""#),
        "aten::mm '[[64, 65536], [65536, 32]]'"
    );
    assert_eq!(short_command("convbfp16 -n"), "convbfp16 -n");
}
