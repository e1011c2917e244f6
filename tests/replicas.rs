//! Replicas (DESIGN §5): three `shipgate serve` processes on one database behind a
//! round-robin load balancer, webhooks spread across them. A replica is SIGKILLed right
//! after GitHub carried out an effect it was running; a surviving replica continues that
//! effect once the dead one's lease runs out (never while it lives). Every delivery is
//! processed once, every effect performed once, and features still reach production in
//! order — on PostgreSQL, and on SQLite (processes sharing one file on one host).

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::world::setup_replicas;
use common::{Backend, crash_at, pid_of_peer};
use shipgate::store::deliveries::DeliveryStatus;

const CONFIG: &str = "approvers:\n  production: [releaser]\n";

async fn three_replicas_share_the_work_and_survive_a_kill(backend: Backend) {
    let (w, _others, processes) = setup_replicas(backend, CONFIG, 3).await;

    // Whichever replica merges the first feature dies right after GitHub merged it.
    let pids: Vec<u32> = processes
        .iter()
        .map(|p| p.child.lock().unwrap().id())
        .collect();
    let before = w.retried_effects_done().await;
    let kill_the_sender = |hung: shipgate::sim::state::RecordedRequest| {
        let (w, processes, pids) = (&w, &processes, &pids);
        async move {
            let peer = hung.peer.expect("the simulator records the caller");
            let pid = pid_of_peer(
                peer,
                w.sim.api_url().port().expect("the simulator's port"),
                pids,
            )
            .expect("one of the replicas sent it");
            let victim = &processes[pids.iter().position(|p| *p == pid).unwrap()];
            let killed = Instant::now();
            victim.kill();
            while w.retried_effects_done().await == before {
                assert!(killed.elapsed() < Duration::from_secs(90), "never resumed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!(
                "a surviving replica finished the effect {} ms after SIGKILL",
                killed.elapsed().as_millis()
            );
        }
    };
    let (first, first_sha) = crash_at(&w.sim, "pulls/merge", kill_the_sender, w.to_done()).await;
    // The next feature goes through the two that are left.
    let (second, second_sha) = w.to_done().await;
    for (n, sha) in [(first, &first_sha), (second, &second_sha)] {
        assert!(w.status(n).contains("phase **done**"), "{}", w.status(n));
        assert!(
            w.deployments("production").iter().any(|d| &d.sha == sha),
            "{sha} deployed"
        );
    }
    w.assert_nothing_doubled();

    // Every delivery was taken by exactly one replica: one processed (or ignored) outcome
    // per GUID, the rest duplicates.
    let store = &w.sg.store;
    let mut taken = std::collections::HashMap::<String, usize>::new();
    for status in [DeliveryStatus::Processed, DeliveryStatus::Ignored] {
        for d in store.deliveries_with_status(status).await.unwrap() {
            *taken.entry(d.delivery_id).or_default() += 1;
        }
    }
    assert!(taken.values().all(|n| *n == 1), "{taken:?}");
    w.sg.stop().await;
}

on_both_backends!(three_replicas_share_the_work_and_survive_a_kill);
