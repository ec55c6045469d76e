// Agora patch (not in winterfell): see zk/vendor/README.md.

use math::FieldElement;

/// Interleaved Horner chains: each step of a chain waits on the one before (a multiplication in `E`),
/// so four independent chains take about the time one chain of the same length would.
const CHAINS: usize = 4;

/// Agora patch: `p(x)`, the value `math::polynom::eval` gives (the field's arithmetic is exact, so the
/// order of the operations does not change it), by [`CHAINS`] Horner chains over `x^4`, one for the
/// coefficients of each residue mod 4: `p(x) = Σ_j x^j · P_j(x^4)` with `P_j` the coefficients
/// `p[4i + j]`. winterfell's single chain is bound by the latency of a multiplication in the
/// extension field; the out-of-domain frame evaluates every column of a trace of 2^20 rows at two
/// points this way.
pub fn eval_poly<B, E>(p: &[B], x: E) -> E
where
    B: FieldElement,
    E: FieldElement + From<B>,
{
    if p.len() < 2 * CHAINS {
        return math::polynom::eval(p, x);
    }
    let x2 = x * x;
    let x4 = x2 * x2;
    let head = p.len() / CHAINS * CHAINS;
    let mut acc = [E::ZERO; CHAINS];
    for coeffs in p[..head].chunks_exact(CHAINS).rev() {
        for (a, &c) in acc.iter_mut().zip(coeffs) {
            *a = *a * x4 + E::from(c);
        }
    }
    let value = acc.iter().rev().fold(E::ZERO, |v, &a| v * x + a);
    match &p[head..] {
        [] => value,
        tail => value + x.exp((head as u64).into()) * math::polynom::eval(tail, x),
    }
}
