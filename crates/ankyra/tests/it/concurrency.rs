//! Two writers on one cloud: exactly one proceeds, the others are told who
//! got in first and to re-run.

use std::process::Stdio;

use crate::{init, settings, Env};

/// How many `ankyra set` processes race.
const WRITERS: u32 = 8;

/// Eight `ankyra set lab1 glance.replicas=K` (K = 2..=9) started at the same
/// moment. The test-only `ANKYRA_TEST_PAUSE_BEFORE_COMMIT_MS` holds each of
/// them for 1.5 s between reading the latest revision and writing, so all
/// eight read revision 1 and then race to write revision 2: exactly one
/// stores it (exit 0), the seven others store nothing and fail with exit 3,
/// naming revision 2, its author and when.
#[test]
fn of_concurrent_sets_on_one_cloud_exactly_one_proceeds() {
    let env = Env::new();
    init(&env, "lab1");
    let first = env.run(&["commit", "-f", "lab1.yaml", "-m", "first"]);
    assert!(first.starts_with("exit: 0"), "{first}");

    let replicas: Vec<u32> = (2..2 + WRITERS).collect();
    let children: Vec<_> = replicas
        .iter()
        .map(|k| {
            let assignment = format!("glance.replicas={k}");
            env.command(&["set", "lab1", &assignment])
                .env("ANKYRA_AUTHOR", format!("writer-{k}"))
                .env("ANKYRA_TEST_PAUSE_BEFORE_COMMIT_MS", "1500")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<(u32, std::process::Output)> = replicas
        .iter()
        .copied()
        .zip(children)
        .map(|(k, child)| (k, child.wait_with_output().unwrap()))
        .collect();
    let all = || {
        outcomes
            .iter()
            .map(|(k, out)| format!("=== replicas={k}\n{}", env.describe(out)))
            .collect::<Vec<_>>()
            .join("\n")
    };

    let winners: Vec<u32> = outcomes
        .iter()
        .filter(|(_, out)| out.status.success())
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one set proceeds:\n{}", all());
    let winner = winners[0];
    let winner_out = &outcomes.iter().find(|(k, _)| *k == winner).unwrap().1;
    assert!(
        String::from_utf8_lossy(&winner_out.stdout).contains("lab1: recorded revision 2 "),
        "{}",
        all()
    );

    let conflict = format!(
        "cloud `lab1` changed after this command read revision 1: revision 2 was recorded first, by `writer-{winner}`"
    );
    let mut losers = 0;
    for (k, out) in &outcomes {
        if *k == winner {
            continue;
        }
        let stderr = unwrapped(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "replicas={k}:\n{}", all());
        assert!(
            stderr.contains(&conflict) && stderr.contains("nothing was stored"),
            "replicas={k} names the revision that got in first:\n{}",
            all()
        );
        assert!(out.stdout.is_empty(), "replicas={k}:\n{}", all());
        losers += 1;
    }
    assert_eq!(losers, WRITERS - 1);

    // What a loser sees (unwrapped, so the snapshot does not depend on where
    // miette breaks lines), with the winner and the time filtered out.
    let loser = &outcomes.iter().find(|(k, _)| *k != winner).unwrap().1;
    let shown = format!(
        "exit: {}\n--- stderr, unwrapped\n{}\n",
        loser.status.code().unwrap_or(-1),
        unwrapped(&loser.stderr).replace(&format!("writer-{winner}"), "writer-[WINNER]")
    );
    settings().bind(|| insta::assert_snapshot!("a set that lost the race", shown));

    let history = env.json(&["history", "lab1"]);
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["author"], format!("writer-{winner}"));
    let shown = env.json(&["show", "lab1", "2"]);
    assert_eq!(
        shown["record"]["spec"]["components"]["glance"]["replicas"], winner,
        "revision 2 holds the winner's value"
    );
}

/// Printed text as one line: words joined by single spaces, without miette's
/// margin (`×`, `│`).
fn unwrapped(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .split_whitespace()
        .filter(|w| !matches!(*w, "│" | "×"))
        .collect::<Vec<_>>()
        .join(" ")
}
