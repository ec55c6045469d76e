//! The in-AIR Rescue permutation (`agora_zk::rescue`) inside a real winterfell proof: a small AIR whose
//! trace is one permutation, its row kinds and round constants given as periodic columns, proven by
//! winterfell's stock prover (the debug build checks every constraint's degree against the declared
//! one: a selector times an equation of degree 2, within blowup 4) and checked by its verifier. The
//! expected output is winter-crypto's own `Rp64_256` permutation, not the gadget's rows.

use agora_zk::rescue::{self, COLUMNS, CONSTRAINTS, KINDS, ROWS, STATE};
use winter_air::{
    Air, AirContext, Assertion, BatchingMethod, EvaluationFrame, FieldExtension, PartitionOptions, ProofOptions,
    TraceInfo, TransitionConstraintDegree,
};
use winter_crypto::hashers::{Blake3_256, Rp64_256};
use winter_crypto::{DefaultRandomCoin, MerkleTree};
use winter_math::fields::f64::BaseElement;
use winter_math::{FieldElement, ToElements};
use winter_prover::matrix::ColMatrix;
use winter_prover::{
    CompositionPoly, CompositionPolyTrace, DefaultConstraintCommitment, DefaultConstraintEvaluator, DefaultTraceLde,
    Prover, StarkDomain, TracePolyTable, TraceTable,
};

type Hash = Blake3_256<BaseElement>;
type Vc = MerkleTree<Hash>;

/// A power of two above [`ROWS`]; the rows past the permutation have every selector 0.
const LENGTH: usize = 64;

#[derive(Clone, Copy)]
struct Permutation {
    input: [BaseElement; STATE],
    output: [BaseElement; STATE],
}

impl ToElements<BaseElement> for Permutation {
    fn to_elements(&self) -> Vec<BaseElement> {
        self.input.iter().chain(&self.output).copied().collect()
    }
}

struct PermutationAir {
    context: AirContext<BaseElement>,
    claim: Permutation,
}

impl Air for PermutationAir {
    type BaseField = BaseElement;
    type PublicInputs = Permutation;

    fn new(trace_info: TraceInfo, claim: Permutation, options: ProofOptions) -> Self {
        let degrees = vec![TransitionConstraintDegree::with_cycles(2, vec![LENGTH]); CONSTRAINTS];
        PermutationAir { context: AirContext::new(trace_info, degrees, 2 * STATE, options), claim }
    }

    fn context(&self) -> &AirContext<BaseElement> {
        &self.context
    }

    fn evaluate_transition<E: FieldElement<BaseField = BaseElement>>(
        &self,
        frame: &EvaluationFrame<E>,
        periodic: &[E],
        result: &mut [E],
    ) {
        let (selectors, constants) = periodic.split_at(KINDS);
        rescue::evaluate(frame.current(), frame.next(), selectors, constants, result);
    }

    fn get_assertions(&self) -> Vec<Assertion<BaseElement>> {
        let mut out = Vec::new();
        for i in 0..STATE {
            out.push(Assertion::single(i, 0, self.claim.input[i]));
            out.push(Assertion::single(i, ROWS - 1, self.claim.output[i]));
        }
        out
    }

    fn get_periodic_column_values(&self) -> Vec<Vec<BaseElement>> {
        let selectors = (0..KINDS).map(|k| (0..LENGTH).map(|row| rescue::selectors(row)[k]).collect());
        let constants = (0..STATE).map(|i| (0..LENGTH).map(|row| rescue::constants(row)[i]).collect());
        selectors.chain(constants).collect()
    }
}

struct PermutationProver {
    options: ProofOptions,
    claim: Permutation,
}

impl Prover for PermutationProver {
    type BaseField = BaseElement;
    type Air = PermutationAir;
    type Trace = TraceTable<BaseElement>;
    type HashFn = Hash;
    type VC = Vc;
    type RandomCoin = DefaultRandomCoin<Hash>;
    type TraceLde<E: FieldElement<BaseField = BaseElement>> = DefaultTraceLde<E, Hash, Vc>;
    type ConstraintEvaluator<'a, E: FieldElement<BaseField = BaseElement>> =
        DefaultConstraintEvaluator<'a, PermutationAir, E>;
    type ConstraintCommitment<E: FieldElement<BaseField = BaseElement>> = DefaultConstraintCommitment<E, Hash, Vc>;

    fn get_pub_inputs(&self, _trace: &Self::Trace) -> Permutation {
        self.claim
    }

    fn options(&self) -> &ProofOptions {
        &self.options
    }

    fn new_trace_lde<E: FieldElement<BaseField = BaseElement>>(
        &self,
        trace_info: &TraceInfo,
        main_trace: &ColMatrix<BaseElement>,
        domain: &StarkDomain<BaseElement>,
        partition_options: PartitionOptions,
    ) -> (Self::TraceLde<E>, TracePolyTable<E>) {
        DefaultTraceLde::new(trace_info, main_trace, domain, partition_options)
    }

    fn new_evaluator<'a, E: FieldElement<BaseField = BaseElement>>(
        &self,
        air: &'a PermutationAir,
        aux_rand_elements: Option<winter_air::AuxRandElements<E>>,
        composition_coefficients: winter_air::ConstraintCompositionCoefficients<E>,
    ) -> Self::ConstraintEvaluator<'a, E> {
        DefaultConstraintEvaluator::new(air, aux_rand_elements, composition_coefficients)
    }

    fn build_constraint_commitment<E: FieldElement<BaseField = BaseElement>>(
        &self,
        composition_poly_trace: CompositionPolyTrace<E>,
        num_constraint_composition_columns: usize,
        domain: &StarkDomain<BaseElement>,
        partition_options: PartitionOptions,
    ) -> (Self::ConstraintCommitment<E>, CompositionPoly<E>) {
        DefaultConstraintCommitment::new(
            composition_poly_trace,
            num_constraint_composition_columns,
            domain,
            partition_options,
        )
    }
}

/// Blowup 4, as agora-zk's proofs: constraints of degree 3 fit it.
fn options() -> ProofOptions {
    ProofOptions::new(42, 4, 0, FieldExtension::Quadratic, 8, 31, BatchingMethod::Linear, BatchingMethod::Linear)
}

fn trace(input: [BaseElement; STATE]) -> TraceTable<BaseElement> {
    let rows = rescue::fill(input);
    let mut trace = TraceTable::new(COLUMNS, LENGTH);
    trace.fill(
        |state| state.copy_from_slice(&rows[0]),
        |step, state| {
            // Past the permutation the rows repeat its output row: no selector reads them.
            state.copy_from_slice(&rows[(step + 1).min(ROWS - 1)]);
        },
    );
    trace
}

fn verify(proof: winter_air::proof::Proof, claim: Permutation) -> Result<(), winter_verifier::VerifierError> {
    let acceptable = winter_verifier::AcceptableOptions::OptionSet(vec![options()]);
    winter_verifier::verify::<PermutationAir, Hash, DefaultRandomCoin<Hash>, Vc>(proof, claim, &acceptable)
}

fn input(seed: u64) -> [BaseElement; STATE] {
    std::array::from_fn(|i| BaseElement::new(seed ^ (i as u64 * 0x0123_4567_89ab_cdef)))
}

#[test]
fn a_proof_of_the_permutation_verifies_for_winterfells_output_and_no_other() {
    let input = input(2026);
    let mut output = input;
    Rp64_256::apply_permutation(&mut output);
    let claim = Permutation { input, output };
    let proof = PermutationProver { options: options(), claim }.prove(trace(input)).expect("an honest trace proves");
    verify(proof.clone(), claim).expect("the honest claim verifies");

    // The same proof for an output changed in one element, or for another input, is refused.
    let mut forged = claim;
    forged.output[5] += BaseElement::ONE;
    assert!(verify(proof.clone(), forged).is_err(), "a changed output verified");
    let mut other = claim;
    other.input[0] += BaseElement::ONE;
    assert!(verify(proof, other).is_err(), "a changed input verified");
}
