//! Writes a labelled inference log (inference and label lines interleaved by event time)
//! for trying the label side by hand: a healthy phase, then a concept drift that inputs do
//! not show.
//!
//! usage: gen_labelled RECORDS_PER_PHASE > labelled.jsonl

use vigil::demo::sim::{script_with_labels, Behaviour, Phase, SimModel, Simulator};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8000);
    let mut sim = Simulator::new(SimModel::generic("churn", 8, 2), 31);
    let flipped = Behaviour {
        concept_shift: 1.0,
        ..Behaviour::HEALTHY
    };
    let phases = [
        Phase {
            records: n,
            version: "v1".into(),
            behaviour: Behaviour::HEALTHY,
        },
        Phase {
            records: n,
            version: "v1".into(),
            behaviour: flipped,
        },
    ];
    print!(
        "{}",
        script_with_labels(&mut sim, 1_767_225_600_000, 100, 30_000, &phases)
    );
}
