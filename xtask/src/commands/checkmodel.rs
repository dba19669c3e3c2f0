//! `cargo xtask check-model`: the decision model against a real compiler on
//! commands files, before anything is built. Prints matches/total and
//! every shape where the model's predicted split differs from the one
//! `iree-opt` chose, and fails when there is one.

use crate::cli::CheckModelArgs;
use crate::core::modelcheck;
use crate::ops::context::{cwd_absolute, Ctx};
use crate::ops::{inputs, model_check};
use anyhow::{anyhow, bail, Context, Result};

pub(crate) fn run(ctx: &Ctx, args: &CheckModelArgs) -> Result<()> {
    let config = &ctx.config;
    let paths: Vec<_> = if args.commands.is_empty() {
        config.sweep.commands.clone()
    } else {
        args.commands.iter().map(|p| cwd_absolute(p)).collect()
    };
    if paths.is_empty() {
        bail!("no commands file: pass one or more (`cargo xtask check-model FILE...`) or set `sweep.commands`");
    }
    let files = inputs::read_commands_files(&paths, args.skip_bad_lines)?;
    let name = files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    let shapes: Vec<_> = files.into_iter().flat_map(|f| f.commands.shapes).collect();
    let iree_opt = match &args.iree_opt {
        Some(p) => cwd_absolute(p),
        None => model_check::default_iree_opt(config)
            .ok_or_else(|| anyhow!("no build dir to take `iree-opt` from: pass --iree-opt PATH or set `build.dir`"))?,
    };
    if let Some(why) = model_check::not_applicable(&iree_opt) {
        bail!("{why}; pass an MLIR iree-opt with --iree-opt (for example the `iree-base-compiler` wheel's)");
    }
    if let Some(file) = &args.mlir {
        let file = cwd_absolute(file);
        std::fs::write(&file, modelcheck::module(&shapes))
            .with_context(|| format!("cannot write `{}`; pass a writable path to --mlir", file.display()))?;
    }
    // Every target the configuration tunes, each with its pass option.
    let mut failed = Vec::new();
    for t in config.targets() {
        let check = model_check::run(&config.for_target(t), &shapes, &iree_opt)?;
        print!("{}", modelcheck::render(&check, &name));
        if !check.mismatches.is_empty() {
            failed.push(format!("{} of {} shapes on {} targets", check.mismatches.len(), check.total, t.name()));
        }
    }
    if !failed.is_empty() {
        bail!("{}: the model predicts another split than `iree-opt` chose", failed.join(", "));
    }
    Ok(())
}
