//! The report: best marks and ratios, claims, class scores, `choose`.

use rmap_metrics::*;

use super::*;

fn r(scenario: &str, size: u64, backend: &str, metric: &str, v: f64) -> Row {
    Row {
        scenario: scenario.into(),
        size,
        size_unit: "u".into(),
        backend: backend.into(),
        metric: metric.into(),
        value: v,
        unit: "x".into(),
        min: v,
        max: v,
        reps: 1,
        ci_lo: None,
        ci_hi: None,
        ci_level: None,
        samples: String::new(),
    }
}

#[test]
fn tables_mark_the_best_and_give_ratios() {
    let rows = vec![
        r(
            "db-window",
            10,
            "objrmap:mccracken",
            WALK_VMAS_VISITED_PER_WALK.name,
            1000.0,
        ),
        r(
            "db-window",
            10,
            "objrmap:prio",
            WALK_VMAS_VISITED_PER_WALK.name,
            1.0,
        ),
        r(
            "db-window",
            10,
            "objrmap:mccracken",
            RECLAIM_PAGES_PER_S.name,
            100.0,
        ),
        r(
            "db-window",
            10,
            "objrmap:prio",
            RECLAIM_PAGES_PER_S.name,
            1000.0,
        ),
    ];
    let t = Table::new(&rows);
    let s = metric_table(
        &t,
        "db-window",
        10,
        &t.backends(),
        &[WALK_VMAS_VISITED_PER_WALK, RECLAIM_PAGES_PER_S],
    );
    // An exact count wins outright; a time with one sample each cannot
    // be significant: a tie.
    assert!(s.contains("| objrmap:prio | **1** ★ | **1000** = |"), "{s}");
    assert!(
        s.contains("| objrmap:mccracken | 1000 (×1000) | 100 (×10.0) = |"),
        "{s}"
    );
    let h = claims::check_all(&t);
    let (_, db) = h
        .iter()
        .find(|(c, _)| c.statement.starts_with("db-window"))
        .unwrap();
    assert_eq!(db.outcome, Outcome::Reproduced, "{}", db.found);
    let (_, fork) = h
        .iter()
        .find(|(c, _)| c.statement.starts_with("fork costs"))
        .unwrap();
    assert_eq!(fork.outcome, Outcome::NotMeasured);
}

#[test]
fn history_notices_a_disagreement() {
    let rows = vec![
        r(
            "fork-storm",
            64,
            "pte-chain:rik",
            FORK_NS_PER_PAGE.name,
            10.0,
        ),
        r(
            "fork-storm",
            64,
            "anonvma:linux",
            FORK_NS_PER_PAGE.name,
            20.0,
        ),
        r(
            "fork-storm",
            64,
            "objrmap:anonmm",
            FORK_NS_PER_PAGE.name,
            5.0,
        ),
    ];
    let h = claims::check_all(&Table::new(&rows));
    let (_, c) = h
        .iter()
        .find(|(c, _)| c.statement.starts_with("fork costs"))
        .unwrap();
    assert_eq!(c.outcome, Outcome::NotReproduced, "{}", c.found);
    let md = render(&rows, None, &BTreeSet::new());
    assert!(md.contains("**differs**"), "{md}");
    assert!(md.contains("## Which rmap strategy"));
}

#[test]
fn classes_rank_by_geometric_mean() {
    let rows = vec![
        r("fault-storm", 8, "a:x", FAULT_NS_P50.name, 100.0),
        r("fault-storm", 8, "b:y", FAULT_NS_P50.name, 200.0),
        r("fault-storm", 8, "a:x", TIME_NS.name, 400.0),
        r("fault-storm", 8, "b:y", TIME_NS.name, 100.0),
        r("fault-storm", 8, "a:x", FAULT_NS_P99.name, 100.0),
        r("fault-storm", 8, "b:y", FAULT_NS_P99.name, 100.0),
    ];
    let t = Table::new(&rows);
    let sc = class_scores(
        &t,
        &[
            ("fault-storm", FAULT_NS_P50),
            ("fault-storm", FAULT_NS_P99),
            ("fault-storm", TIME_NS),
        ],
        &t.backends(),
    );
    // a: (1 * 1 * 4)^(1/3) = 1.587; b: (2 * 1 * 1)^(1/3) = 1.26.
    assert_eq!(sc[0].0, "b:y");
    assert!((sc[0].1 - 2f64.cbrt()).abs() < 1e-9);
    assert!((sc[1].1 - 4f64.cbrt()).abs() < 1e-9);
}

#[test]
fn choose_ranks_by_exact_cost_with_ties() {
    let rows = vec![
        r("w", 1, "a:x", WORK_UNITS.name, 100.0),
        r("w", 1, "b:y", WORK_UNITS.name, 100.0),
        r("w", 1, "c:z", WORK_UNITS.name, 300.0),
        r("w", 1, "a:x", KERNEL_BYTES_PEAK.name, 4096.0),
        r("w", 1, "b:y", KERNEL_BYTES_PEAK.name, 4096.0),
        r("w", 1, "c:z", KERNEL_BYTES_PEAK.name, 4096.0),
        r("w", 1, "a:x", TIME_NS.name, 10.0),
        r("w", 1, "b:y", TIME_NS.name, 5.0),
        r("w", 1, "c:z", TIME_NS.name, 1.0),
    ];
    let rk = choose_ranking(&rows, "w").unwrap();
    let ranks: Vec<(usize, &str)> = rk
        .ranking
        .iter()
        .map(|x| (x.rank, x.backend.as_str()))
        .collect();
    assert_eq!(ranks, vec![(1, "a:x"), (1, "b:y"), (3, "c:z")]);
    assert!(
        rk.recommendation.contains("a tie on exact cost"),
        "{}",
        rk.recommendation
    );
    assert!(
        rk.recommendation.contains("never walks"),
        "{}",
        rk.recommendation
    );
    // One sample each: no time can be significantly faster.
    assert_eq!(rk.fastest, None);
    assert!(rk.table().contains("1=") && rk.size_text() == "size 1 u");
}

#[test]
fn chain_walks_are_scored_by_vmas_plus_ptes() {
    // A chain walk has no VMAs-visited row; a list walk visits 400
    // VMAs and checks 1 PTE; a tree walk visits 1 and checks 1.
    let rows = vec![
        r(
            "cow-server",
            8,
            "chain:x",
            WALK_PTES_CHECKED_PER_WALK.name,
            1.0,
        ),
        r(
            "cow-server",
            8,
            "list:x",
            WALK_PTES_CHECKED_PER_WALK.name,
            1.0,
        ),
        r(
            "cow-server",
            8,
            "list:x",
            WALK_VMAS_VISITED_PER_WALK.name,
            400.0,
        ),
        r(
            "cow-server",
            8,
            "tree:x",
            WALK_PTES_CHECKED_PER_WALK.name,
            1.0,
        ),
        r(
            "cow-server",
            8,
            "tree:x",
            WALK_VMAS_VISITED_PER_WALK.name,
            1.0,
        ),
    ];
    let t = Table::new(&rows);
    let sc = class_scores(&t, &[("cow-server", WALK_STEPS_PER_WALK)], &t.backends());
    let got: Vec<(&str, f64)> = sc.iter().map(|(b, v)| (b.as_str(), v.round())).collect();
    assert_eq!(
        got,
        vec![("chain:x", 1.0), ("tree:x", 2.0), ("list:x", 401.0)]
    );
}

#[test]
fn every_claim_has_a_statement_a_source_and_a_verdict_on_no_rows() {
    let t = Table::new(&[]);
    for (c, v) in claims::check_all(&t) {
        assert!(
            !c.statement.is_empty() && c.source.len() > 40,
            "{}",
            c.statement
        );
        assert_eq!(v.outcome, Outcome::NotMeasured, "{}", c.statement);
        assert!(v.found.contains(" did not "), "{}", v.found);
    }
    // 6 single-CPU history claims and 4 scaling ones (issue 15)
    assert_eq!(CLAIMS.len(), 13);
}

/// The verdict on `rows` of the claim whose statement starts with `prefix`.
fn claim_verdict(rows: &[Row], prefix: &str) -> claims::Verdict {
    claims::check_all(&Table::new(rows))
        .into_iter()
        .find(|(c, _)| c.statement.starts_with(prefix))
        .expect("a claim with that statement")
        .1
}

/// When every walk's trylock failed there is no mean wait (no walk got its
/// lock): the 2.6.0 trylock claim is still checked, with a wait of 0.
#[test]
fn trylock_claim_holds_when_every_trylock_failed() {
    let libc = "libc-storm";
    let mut rows = vec![
        r(libc, 1, "objrmap:mccracken", PAGES_SKIPPED.name, 0.0),
        r(libc, 64, "objrmap:mccracken", PAGES_SKIPPED.name, 120.0),
        r(libc, 64, "objrmap:prio", PAGES_SKIPPED.name, 0.0),
        r(libc, 64, "objrmap:prio", WALK_WAIT_NS_MEAN.name, 900.0),
    ];
    let verdict = |rows: &[Row]| claim_verdict(rows, "2.6.0's trylock");
    let c = verdict(&rows);
    assert_eq!(c.outcome, Outcome::Reproduced, "{}", c.found);
    assert!(
        c.note.contains("every i_shared_sem trylock failed"),
        "{}",
        c.note
    );
    // a walk that waited longer than the others' does not hold
    rows.push(r(
        libc,
        64,
        "objrmap:mccracken",
        WALK_WAIT_NS_MEAN.name,
        5000.0,
    ));
    assert_eq!(verdict(&rows).outcome, Outcome::NotReproduced);
    // a larger size at which no walk ran (nothing waited, failed or was
    // skipped) is passed over, and the verdict says so
    rows.push(r(libc, 256, "objrmap:mccracken", PAGES_SKIPPED.name, 0.0));
    rows.push(r(libc, 256, "objrmap:mccracken", FAILED_TRYLOCKS.name, 0.0));
    let c = verdict(&rows);
    assert_eq!(c.outcome, Outcome::NotReproduced, "{}", c.found);
    assert!(c.found.starts_with("at 64 CPUs"), "{}", c.found);
    assert!(
        c.note
            .contains("no reclaim walk ran on objrmap:mccracken at 256 CPUs"),
        "{}",
        c.note
    );
    // and with walks nowhere above 1 CPU it is not measured
    let none = [
        r(libc, 1, "objrmap:mccracken", PAGES_SKIPPED.name, 0.0),
        r(libc, 16, "objrmap:mccracken", PAGES_SKIPPED.name, 0.0),
    ];
    assert_eq!(verdict(&none).outcome, Outcome::NotMeasured);
}

/// The i_mmap claim: a spinlock preset whose walks wait longer than every
/// rwsem preset holds it; one below them differs, and the note names the
/// reason: trylock walks that skipped pages, or the rwsem's writers.
#[test]
fn i_mmap_claim_names_trylock_walks_when_they_break_it() {
    let libc = "libc-storm";
    let share = LOCK_WAIT_SHARE_I_MMAP.name;
    let mut rows = vec![
        r(libc, 1, "anonvma:avc-2.6.34", share, 0.0),
        r(libc, 256, "anonvma:avc-2.6.34", share, 0.9),
        r(libc, 256, "anonvma:avc-2.6.34", PAGES_SKIPPED.name, 0.0),
        r(libc, 256, "anonvma:linux", share, 0.7),
    ];
    let verdict = |rows: &[Row]| claim_verdict(rows, "under libc-storm, the i_mmap spinlock");
    assert_eq!(verdict(&rows).outcome, Outcome::Reproduced);
    // 2.6.7's trylock walks wait less: differs, and says why
    rows.push(r(libc, 256, "anonvma:andrea-2.6.7", share, 0.03));
    rows.push(r(
        libc,
        256,
        "anonvma:andrea-2.6.7",
        PAGES_SKIPPED.name,
        14000.0,
    ));
    let c = verdict(&rows);
    assert_eq!(c.outcome, Outcome::NotReproduced);
    assert!(
        c.note.contains("trylock i_mmap in their walks"),
        "{}",
        c.note
    );
    assert!(
        c.note.contains("anonvma:andrea-2.6.7 skipped 14k"),
        "{}",
        c.note
    );
    assert!(
        c.note.contains("do wait longer than the rwsem"),
        "{}",
        c.note
    );
    // a spinlock preset that waited for its walks and still waits less:
    // the rwsem's writers are the reason given
    rows[1] = r(libc, 256, "anonvma:avc-2.6.34", share, 0.5);
    let c = verdict(&rows);
    assert_eq!(c.outcome, Outcome::NotReproduced);
    assert!(c.note.contains("taken for writing"), "{}", c.note);
}
