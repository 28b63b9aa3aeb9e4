//! KawPow's period program as C source for the device kernels (OpenCL C, and CUDA C
//! where the same subset compiles), generated from the [`PeriodProgram`] the CPU hash
//! runs: one description drives both.
//!
//! The source defines `kawpow_program(mix, l1)`, the cache reads and math of a round on
//! every lane, and `kawpow_merge_item(mix, item, r)`, the merge of the round's 256-byte
//! dataset item. Registers and selectors are constants of the source, so each period is
//! compiled on its own. The dialect supplies `ROTL32(x, n)`, `ROTR32(x, n)` (any `n`,
//! taken modulo 32), `MUL_HI`, `MIN`, `CLZ`, `POPCOUNT`, the type `uint`, the address
//! space `L1_SPACE` of the 16 KiB cache and `ITEM_SPACE` of the dataset, and `DEVICE_FN`,
//! the qualifier of device functions.

use otedama_sharechain::ethash::kawpow::{
    L1_WORDS, LANES, Operation, PeriodProgram, REGS, WORDS_PER_LANE,
};
use std::fmt::Write;

/// `dst = merge(dst, b)` as ProgPoW's `random_merge` with `selector`.
fn merge(dst: &str, b: &str, selector: u32) -> String {
    let x = (selector >> 16) % 31 + 1;
    match selector % 4 {
        0 => format!("{dst} = {dst} * 33u + ({b});"),
        1 => format!("{dst} = ({dst} ^ ({b})) * 33u;"),
        2 => format!("{dst} = ROTL32({dst}, {x}u) ^ ({b});"),
        _ => format!("{dst} = ROTR32({dst}, {x}u) ^ ({b});"),
    }
}

/// ProgPoW's `random_math` of `a` and `b` with `selector`, as an expression.
fn math(a: &str, b: &str, selector: u32) -> String {
    match selector % 11 {
        0 => format!("{a} + {b}"),
        1 => format!("{a} * {b}"),
        2 => format!("MUL_HI({a}, {b})"),
        3 => format!("MIN({a}, {b})"),
        4 => format!("ROTL32({a}, {b})"),
        5 => format!("ROTR32({a}, {b})"),
        6 => format!("{a} & {b}"),
        7 => format!("{a} | {b}"),
        8 => format!("{a} ^ {b}"),
        9 => format!("CLZ({a}) + CLZ({b})"),
        _ => format!("POPCOUNT({a}) + POPCOUNT({b})"),
    }
}

/// Returns the C source of `program` (see the module's documentation).
pub(crate) fn program_source(program: &PeriodProgram) -> String {
    // Writing to a String cannot fail: the results of write! are ignored below.
    let mut s = String::new();
    let _ = writeln!(s, "// KawPow program of period {}.", program.period);
    let _ = writeln!(s, "#define KAWPOW_LANES {LANES}");
    let _ = writeln!(s, "#define KAWPOW_REGS {REGS}");
    let _ = writeln!(s, "#define KAWPOW_L1_WORDS {L1_WORDS}u");
    let _ = writeln!(s, "#define KAWPOW_WORDS_PER_LANE {WORDS_PER_LANE}");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "// The round's cache reads and math, lane by lane (lanes never interact here)."
    );
    let _ = writeln!(
        s,
        "DEVICE_FN void kawpow_program(uint mix[KAWPOW_LANES][KAWPOW_REGS], L1_SPACE const uint *l1) {{"
    );
    let _ = writeln!(s, "    for (int l = 0; l < KAWPOW_LANES; l++) {{");
    let _ = writeln!(s, "        uint *m = mix[l];");
    for op in &program.ops {
        match *op {
            Operation::Cache {
                src,
                dst,
                merge: sel,
            } => {
                let _ = writeln!(s, "        // cache read: r{src} picks, into r{dst}");
                let line = merge(
                    &format!("m[{dst}]"),
                    &format!("l1[m[{src}] % KAWPOW_L1_WORDS]"),
                    sel,
                );
                let _ = writeln!(s, "        {line}");
            }
            Operation::Math {
                src1,
                src2,
                math: msel,
                dst,
                merge: sel,
            } => {
                let expr = math(&format!("m[{src1}]"), &format!("m[{src2}]"), msel);
                let _ = writeln!(s, "        // math of r{src1}, r{src2} into r{dst}");
                let _ = writeln!(
                    s,
                    "        {{ uint data = {expr}; {} }}",
                    merge(&format!("m[{dst}]"), "data", sel)
                );
            }
        }
    }
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "}}");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "// The round's dataset item: lane l merges words ((l ^ r) % LANES) * 4 .. + 4."
    );
    let _ = writeln!(
        s,
        "DEVICE_FN void kawpow_merge_item(uint mix[KAWPOW_LANES][KAWPOW_REGS], ITEM_SPACE const uint *item, uint r) {{"
    );
    let _ = writeln!(s, "    for (uint l = 0; l < KAWPOW_LANES; l++) {{");
    let _ = writeln!(s, "        uint *m = mix[l];");
    let _ = writeln!(
        s,
        "        ITEM_SPACE const uint *w = item + ((l ^ r) % KAWPOW_LANES) * KAWPOW_WORDS_PER_LANE;"
    );
    for (i, m) in program.item_merges.iter().enumerate() {
        let line = merge(&format!("m[{}]", m.dst), &format!("w[{i}]"), m.merge);
        let _ = writeln!(s, "        {line}");
    }
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_appears_once_and_periods_differ() {
        let p = PeriodProgram::new(0);
        let src = program_source(&p);
        assert_eq!(src.matches("// cache read").count(), 11);
        assert_eq!(src.matches("// math of").count(), 18);
        assert!(src.contains("period 0."));
        assert_ne!(
            program_source(&PeriodProgram::new(1)).replace("period 1.", "period 0."),
            src
        );
        assert!(src.is_ascii());
    }
}
