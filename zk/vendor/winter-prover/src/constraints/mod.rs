// Copyright (c) Facebook, Inc. and its affiliates.
//
// This source code is licensed under the MIT license found in the
// LICENSE file in the root directory of this source tree.

use super::{ColMatrix, ConstraintDivisor, RowMatrix, StarkDomain};

mod evaluator;
pub use evaluator::{ConstraintEvaluator, DefaultConstraintEvaluator};

mod composition_poly;
pub use composition_poly::{CompositionPoly, CompositionPolyTrace};

mod evaluation_table;
pub use evaluation_table::{ConstraintEvaluationTable, EvaluationTableFragment};

mod commitment;
pub use commitment::{ConstraintCommitment, DefaultConstraintCommitment};
