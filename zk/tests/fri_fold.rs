//! The vendored FRI verifier's folding step (`winter_fri::evaluate_folded`, an Agora patch: the
//! barycentric formula on each row's coset) gives the values winterfell's own gives: each row's
//! polynomial interpolated (`polynom::interpolate_batch`) and evaluated at alpha (`polynom::eval`).

use proptest::prelude::*;
use winter_math::fields::f64::BaseElement;
use winter_math::fields::QuadExtension;
use winter_math::{polynom, FieldElement, StarkField};

type E = QuadExtension<BaseElement>;

/// winterfell's way, as its FRI verifier did it before the patch.
fn interpolated<const N: usize>(cosets: &[BaseElement], roots: &[BaseElement], rows: &[[E; N]], alpha: E) -> Vec<E> {
    let xs: Vec<[E; N]> = cosets.iter().map(|&x| std::array::from_fn(|i| E::from(x * roots[i]))).collect();
    polynom::interpolate_batch(&xs, rows).iter().map(|p| polynom::eval(p, alpha)).collect()
}

/// The `N`-th roots of unity in the FRI verifier's order: `g^(size/N · i)` for the domain's generator.
fn roots<const N: usize>(log_size: u32) -> (BaseElement, Vec<BaseElement>) {
    let g = BaseElement::get_root_of_unity(log_size);
    let size = 1u64 << log_size;
    (g, (0..N as u64).map(|i| g.exp(size / N as u64 * i)).collect())
}

fn element(a: u64, b: u64) -> E {
    E::new(BaseElement::new(a), BaseElement::new(b))
}

fn check<const N: usize>(positions: &[u64], values: &[(u64, u64)], alpha: E) {
    let log_size = 16;
    let (g, roots) = roots::<N>(log_size);
    let cosets: Vec<BaseElement> =
        positions.iter().map(|&p| g.exp(p % (1 << log_size)) * BaseElement::GENERATOR).collect();
    let rows: Vec<[E; N]> = (0..positions.len())
        .map(|k| {
            std::array::from_fn(|i| {
                let (a, b) = values[(k * N + i) % values.len()];
                element(a.wrapping_add(k as u64), b ^ i as u64)
            })
        })
        .collect();
    assert_eq!(winter_fri::evaluate_folded(&cosets, &roots, &rows, alpha), interpolated(&cosets, &roots, &rows, alpha));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn folded_rows_are_winterfells_at_a_random_alpha(
        positions in proptest::collection::vec(any::<u64>(), 1..45),
        values in proptest::collection::vec((any::<u64>(), any::<u64>()), 1..64),
        alpha in (any::<u64>(), any::<u64>()),
    ) {
        let alpha = element(alpha.0, alpha.1);
        check::<8>(&positions, &values, alpha);
        check::<4>(&positions, &values, alpha);
        check::<2>(&positions, &values, alpha);
        check::<16>(&positions, &values, alpha);
    }
}

/// Alpha on one of a row's points (its difference is zero, whose batched inverse is zero): the row's
/// value there, as interpolation gives; the other rows as before.
fn on_a_point<const N: usize>() {
    let (g, roots) = roots::<N>(16);
    let cosets = [g.exp(5) * BaseElement::GENERATOR, g.exp(77) * BaseElement::GENERATOR];
    let rows: Vec<[E; N]> =
        (0..2u64).map(|k| std::array::from_fn(|i| element(k * 100 + i as u64 + 3, i as u64 * 7))).collect();
    for (row, &coset) in cosets.iter().enumerate() {
        for i in 0..N {
            let alpha = E::from(coset * roots[i]);
            let ours = winter_fri::evaluate_folded(&cosets, &roots, &rows, alpha);
            assert_eq!(ours[row], rows[row][i]);
            assert_eq!(ours, interpolated(&cosets, &roots, &rows, alpha));
        }
    }
    // And off every point.
    let alpha = element(12_345, 678);
    assert_eq!(winter_fri::evaluate_folded(&cosets, &roots, &rows, alpha), interpolated(&cosets, &roots, &rows, alpha));
}

#[test]
fn alpha_on_a_rows_point_gives_that_value() {
    on_a_point::<2>();
    on_a_point::<4>();
    on_a_point::<8>();
    on_a_point::<16>();
}
