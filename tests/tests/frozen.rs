//! Frozen domain states (wizer pre-initialised snapshots): instances made from a frozen state
//! start in it, are isolated from each other, roll back to it on a trap, and keep the original's
//! manifest, grants, limits and provenance.

use eigenbox_runtime::{CallError, DbSide, DomainInstance, EpisodeInit, FreezeMethod, Requestor};
use eigenbox_tests::{hostile, mock_domain, runtime};

fn no_init() -> EpisodeInit {
    EpisodeInit { agent_data: None, user_data: None, actions: vec![] }
}

async fn hash(d: &mut DomainInstance) -> Option<String> {
    d.state_hash(DbSide::Assistant).await.unwrap()
}

async fn tool(d: &mut DomainInstance, name: &str, args: &str) -> Result<String, CallError> {
    d.call_tool(Requestor::Assistant, name, args).await.map(|r| r.unwrap_or_else(|e| panic!("tool {name} failed: {e:?}")))
}

#[tokio::test]
async fn frozen_mock_state_after_a_write_matches_the_original() {
    let host = runtime("");
    let mock = mock_domain(&host);
    let mut live = DomainInstance::new(mock.clone()).await.unwrap();
    let initial = hash(&mut live).await;
    tool(&mut live, "create_task", r#"{"user_id": "user_1", "title": "frozen"}"#).await.unwrap();
    let written = hash(&mut live).await;
    assert_ne!(written, initial);

    let frozen = live.freeze().await.unwrap();
    // The episode's history (a fresh instance, one write) was replayed, not restored.
    assert_eq!(frozen.info().method, FreezeMethod::Replay { calls: 1 });
    // Provenance: same manifest, grants and limits; both hashes recorded.
    let fc = frozen.component();
    assert!(fc.is_frozen() && !mock.is_frozen());
    assert_eq!(fc.manifest(), mock.manifest());
    assert_eq!(fc.granted(), mock.granted());
    assert_eq!(fc.sha256(), mock.sha256());
    let info = frozen.info();
    assert_eq!(info.original_sha256(), mock.sha256());
    assert_eq!(info.frozen_sha256.len(), 64);
    assert_ne!(info.frozen_sha256, mock.sha256());
    assert_eq!(fc.inspect().imports, mock.inspect().imports);
    assert_eq!(fc.inspect().exports, mock.inspect().exports);

    for _ in 0..3 {
        let mut d = DomainInstance::from_frozen(&frozen).await.unwrap();
        assert_eq!(hash(&mut d).await, written);
        assert_eq!(d.state_json(DbSide::Assistant).await.unwrap(), live.state_json(DbSide::Assistant).await.unwrap());
    }
    // Freezing from the episode init gives the same state as the live reset.
    let by_init = mock.freeze(no_init()).await.unwrap();
    assert_eq!(by_init.info().method, FreezeMethod::Reset);
    let mut d = DomainInstance::from_frozen(&by_init).await.unwrap();
    assert_eq!(hash(&mut d).await, initial);
    // `new` on a frozen component still means the domain's initial state, and `reset` works.
    let mut d = DomainInstance::new(fc.clone()).await.unwrap();
    assert_eq!(hash(&mut d).await, initial);
    let mut d = DomainInstance::from_frozen(&frozen).await.unwrap();
    d.reset(no_init()).await.unwrap().unwrap();
    assert_eq!(hash(&mut d).await, initial);
    // A frozen-based episode forks and refreezes like any other.
    let mut d = DomainInstance::from_frozen(&frozen).await.unwrap();
    let mut f = d.fork().await.unwrap();
    assert_eq!(hash(&mut f).await, written);
    tool(&mut d, "update_task_status", r#"{"task_id": "task_1", "status": "completed"}"#).await.unwrap();
    let refrozen = d.freeze().await.unwrap();
    assert_eq!(refrozen.info().original_sha256(), mock.sha256());
    // The frozen state's own recipe plus this episode's write.
    assert_eq!(refrozen.info().method, FreezeMethod::Replay { calls: 2 });
    let mut r = DomainInstance::from_frozen(&refrozen).await.unwrap();
    assert_eq!(hash(&mut r).await, hash(&mut d).await);
}

#[tokio::test]
async fn writes_in_one_frozen_instance_do_not_show_in_another() {
    let host = runtime("");
    let mock = mock_domain(&host);
    let frozen = mock.freeze(no_init()).await.unwrap();
    // A domain built with the SDK seals its heap for the freeze (rows written below are then
    // copies in each instance's own arena).
    assert!(frozen.info().heap_sealed);
    let mut a = DomainInstance::from_frozen(&frozen).await.unwrap();
    let mut b = DomainInstance::from_frozen(&frozen).await.unwrap();
    let before = hash(&mut b).await;
    tool(&mut a, "create_task", r#"{"user_id": "user_1", "title": "only in a"}"#).await.unwrap();
    assert_ne!(hash(&mut a).await, before);
    assert_eq!(hash(&mut b).await, before);
    let mut c = DomainInstance::from_frozen(&frozen).await.unwrap();
    assert_eq!(hash(&mut c).await, before);
    assert!(!c.state_json(DbSide::Assistant).await.unwrap().unwrap().contains("only in a"));
}

#[tokio::test]
async fn a_trap_rolls_back_to_the_frozen_state() {
    let c = hostile("", "", "fuel = 50_000_000");
    let mut live = DomainInstance::new(c.clone()).await.unwrap();
    for _ in 0..3 {
        tool(&mut live, "incr", "{}").await.unwrap();
    }
    let frozen = live.freeze().await.unwrap();
    // The hostile guest is not built with the SDK: it answers the seal call with an error and
    // is frozen unsealed.
    assert!(!frozen.info().heap_sealed);

    // Trap with no writes since the start: back to exactly the frozen state.
    let mut d = DomainInstance::from_frozen(&frozen).await.unwrap();
    assert!(matches!(d.call_tool(Requestor::Assistant, "write_then_trap", "{}").await, Err(CallError::Trap { .. })));
    assert_eq!(tool(&mut d, "get", "{}").await.unwrap(), "3");
    // Trap after writes: the frozen state plus the journaled writes.
    tool(&mut d, "incr", "{}").await.unwrap();
    assert!(matches!(d.call_tool(Requestor::Assistant, "loop", "{}").await, Err(CallError::OutOfFuel { .. })));
    assert_eq!(tool(&mut d, "get", "{}").await.unwrap(), "4");
    assert!(matches!(d.call_tool(Requestor::Assistant, "write_then_trap", "{}").await, Err(CallError::Trap { .. })));
    assert_eq!(tool(&mut d, "get", "{}").await.unwrap(), "4");
    // Limits are the original's: the frozen instance runs out of the same fuel.
    let mut e = DomainInstance::from_frozen(&frozen).await.unwrap();
    assert_eq!(e.call_tool(Requestor::Assistant, "loop", "{}").await.unwrap_err(), CallError::OutOfFuel { fuel: 50_000_000 });
    assert_eq!(tool(&mut e, "get", "{}").await.unwrap(), "3");
}

#[tokio::test]
async fn a_refused_state_is_a_freeze_error() {
    let host = runtime("");
    let notes = eigenbox_tests::big_notes_domain(&host);
    let err = notes.freeze(EpisodeInit { agent_data: Some("not json".into()), user_data: None, actions: vec![] }).await.unwrap_err();
    assert!(matches!(err, CallError::Freeze(_)), "{err:?}");
    let c = hostile("", "", "");
    let err = c.freeze_snapshot(b"too short").await.unwrap_err();
    assert!(matches!(&err, CallError::Freeze(m) if m.contains("snapshot must be 8 bytes")), "{err:?}");
}

#[tokio::test]
async fn a_large_frozen_notes_state_hashes_equal_to_the_live_one() {
    let host = runtime("");
    let notes = eigenbox_tests::big_notes_domain(&host);
    let init = EpisodeInit { agent_data: Some(eigenbox_tests::synthetic_notes(3 << 20)), user_data: None, actions: vec![] };
    let mut live = DomainInstance::new(notes.clone()).await.unwrap();
    live.reset(init.clone()).await.unwrap().unwrap();
    let want = hash(&mut live).await;

    let frozen = notes.freeze(init).await.unwrap();
    eprintln!("{:?} {:?}", frozen, frozen.info().stats);
    let mut a = DomainInstance::from_frozen(&frozen).await.unwrap();
    assert_eq!(hash(&mut a).await, want);
    // And from the live episode's snapshot, after a write.
    tool(&mut live, "create_note", r#"{"title": "after", "body": "freeze"}"#).await.unwrap();
    let frozen2 = live.freeze().await.unwrap();
    let mut b = DomainInstance::from_frozen(&frozen2).await.unwrap();
    assert_eq!(hash(&mut b).await, hash(&mut live).await);
    assert_ne!(hash(&mut b).await, want);
    assert_eq!(hash(&mut a).await, want);
}

/// An episode whose history is known is frozen by replaying it on a fresh instance, which
/// reaches the same state in less memory than restoring its snapshot (the restore holds the
/// initial and the restored DB side by side); an episode restored from a snapshot has no
/// history to replay and is frozen by snapshot. Every route gives the live episode's state.
#[tokio::test]
async fn an_episode_is_frozen_by_replay_in_less_memory_than_by_snapshot() {
    let host = runtime("");
    let airline = eigenbox_tests::domain_plugin(&host, "airline");
    let init = EpisodeInit {
        agent_data: None,
        user_data: None,
        actions: vec![eigenbox_runtime::EnvCall { side: DbSide::Assistant, name: "cancel_reservation".into(), arguments: r#"{"reservation_id": "XEHM4B"}"#.into() }],
    };
    let mut live = DomainInstance::new(airline.clone()).await.unwrap();
    live.reset(init).await.unwrap().unwrap();
    tool(&mut live, "update_reservation_baggages", r#"{"reservation_id": "YAX4DR", "total_baggages": 2, "nonfree_baggages": 0, "payment_id": "credit_card_4938634"}"#).await.unwrap();
    // A failed write is journaled and replayed too (it may have written before failing).
    let failed = live.call_tool(Requestor::Assistant, "cancel_reservation", r#"{"reservation_id": "NOSUCH"}"#).await.unwrap();
    assert!(failed.is_err());
    let want = hash(&mut live).await;
    let initial = {
        let mut d = DomainInstance::new(airline.clone()).await.unwrap();
        hash(&mut d).await
    };
    assert_ne!(want, initial);

    let replayed = live.freeze().await.unwrap();
    assert_eq!(replayed.info().method, FreezeMethod::Replay { calls: 2 });
    let snap = live.snapshot().await.unwrap();
    let restored = airline.freeze_snapshot(&snap).await.unwrap();
    assert_eq!(restored.info().method, FreezeMethod::Restore);

    let mut memory = Vec::new();
    for frozen in [&replayed, &restored] {
        let mut d = DomainInstance::from_frozen(frozen).await.unwrap();
        assert_eq!(hash(&mut d).await, want);
        assert_eq!(d.state_json(DbSide::Assistant).await.unwrap(), live.state_json(DbSide::Assistant).await.unwrap());
        memory.push(d.last_call().peak_memory);
    }
    assert!(memory[0] * 4 < memory[1] * 3, "replayed {} bytes, restored {} bytes", memory[0], memory[1]);

    // Restored from a snapshot: no history, so a snapshot again, and still the same state.
    let mut r = DomainInstance::new(airline.clone()).await.unwrap();
    r.restore(&snap).await.unwrap().unwrap();
    let again = r.freeze().await.unwrap();
    assert_eq!(again.info().method, FreezeMethod::Restore);
    let mut d = DomainInstance::from_frozen(&again).await.unwrap();
    assert_eq!(hash(&mut d).await, want);
}

/// A domain whose writes do not replay to the same state (here a write drawing on granted
/// randomness) is still frozen exactly: the replay's DB hashes differ from the episode's, so the
/// state moves over as a snapshot instead.
#[tokio::test]
async fn a_replay_that_does_not_reproduce_the_state_falls_back_to_a_snapshot() {
    let grant = "[[component]]\nid = \"test:hostile\"\n[component.capabilities]\nrandom = true\n";
    let c = hostile(grant, "random = true", "");
    let mut live = DomainInstance::new(c.clone()).await.unwrap();
    tool(&mut live, "incr", "{}").await.unwrap();
    let n = tool(&mut live, "incr_random", "{}").await.unwrap();
    let frozen = live.freeze().await.unwrap();
    assert_eq!(frozen.info().method, FreezeMethod::Restore);
    let mut d = DomainInstance::from_frozen(&frozen).await.unwrap();
    assert_eq!(tool(&mut d, "get", "{}").await.unwrap(), n);
    assert_eq!(hash(&mut d).await, hash(&mut live).await);
    // Deterministic writes only: replayed.
    let mut plain = DomainInstance::new(c.clone()).await.unwrap();
    tool(&mut plain, "incr", "{}").await.unwrap();
    assert_eq!(plain.freeze().await.unwrap().info().method, FreezeMethod::Replay { calls: 1 });
}
