//! The store contract: what `CatalogStore` promises, checked against the
//! MongoDB server at `MONGODB_URI` (default mongodb://127.0.0.1:27017, the
//! FerretDB of `make infra`). Each test has its own database, so they run in
//! parallel; a server that does not answer fails them (never skips).
//!
//! Nothing here is FerretDB-specific: the suite runs unchanged on MongoDB 7
//! (`MONGODB_URI=mongodb://<mongo>:27017 cargo test -p event --test contract`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{Duration, Utc};
use common::TestDatabase;
use common_types::messages::lifecycle::LifecycleEvent;
use common_types::page::PageRequest;
use common_types::{Currency, EventId, UserId};
use event::domain::event::{CreateEventRequest, Event, EventStatus, PriceRequest};
use event::domain::search::{EventSearch, Scope, Sort};
use event::domain::text::TextQuery;
use event::domain::venue::{RowPlan, SectionPlan, Venue, VenueContent};
use event::store::{CatalogStore, MongoCatalog, OutboxMessage, StoreError};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};

fn venue(organizer: UserId, name: &str, city: &str) -> Venue {
    Venue::create(
        organizer,
        VenueContent {
            name: name.into(),
            city: city.into(),
            address: Some("1 Main St".into()),
            sections: vec![
                (
                    "Stalls".into(),
                    SectionPlan::Reserved {
                        rows: vec![
                            RowPlan {
                                label: "A".into(),
                                seats: 10,
                            },
                            RowPlan {
                                label: "B".into(),
                                seats: 12,
                            },
                        ],
                    },
                ),
                ("Floor".into(), SectionPlan::General { capacity: 300 }),
            ],
        },
        Utc::now(),
    )
}

fn draft(venue: &Venue, title: &str, description: &str, category: &str, days: i64) -> Event {
    Event::create(
        CreateEventRequest {
            title: title.into(),
            description: Some(description.into()),
            category: category.into(),
            venue_id: venue.id,
            starts_at: Utc::now() + Duration::days(days),
            ends_at: None,
            currency: "EUR".into(),
            prices: venue
                .sections
                .iter()
                .map(|s| PriceRequest {
                    section_id: s.id,
                    price: 4_500,
                })
                .collect(),
            max_tickets_per_user: Some(6),
            sales_start: None,
            sales_end: None,
        },
        venue,
        venue.organizer_id,
        Utc::now(),
    )
    .unwrap()
}

fn public(page: u32, per_page: u32) -> EventSearch {
    EventSearch {
        scope: Scope::Public,
        text: None,
        category: None,
        city: None,
        from: None,
        to: None,
        sort: Sort::StartsAsc,
        page: PageRequest { page, per_page },
    }
}

fn titles(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.title.as_str()).collect()
}

async fn publish<S: CatalogStore>(store: &S, venue: &Venue, event: &Event) -> Event {
    let (published, snapshot) = event.published(venue, Utc::now()).unwrap();
    let message = OutboxMessage::lifecycle(LifecycleEvent::EventPublished(snapshot), None).unwrap();
    store.update_event(&published, &[message]).await.unwrap();
    published
}

// ---- the contract -------------------------------------------------------

pub async fn venues_round_trip_with_versions<S: CatalogStore>(store: &S) {
    let organizer = UserId::new();
    let mut created = Vec::new();
    for i in 0..3 {
        let v = venue(organizer, &format!("Hall {i}"), "Oslo");
        store.insert_venue(&v).await.unwrap();
        created.push(v);
    }
    store
        .insert_venue(&venue(UserId::new(), "Elsewhere", "Rome"))
        .await
        .unwrap();

    let read = store.venue(created[0].id).await.unwrap().unwrap();
    assert_eq!(read, created[0], "a venue reads back as written");
    assert_eq!(read.seat_map().unwrap(), created[0].seat_map().unwrap());

    let edited = read.edited(
        VenueContent {
            name: "Renamed".into(),
            city: "Oslo".into(),
            address: None,
            sections: vec![("Floor".into(), SectionPlan::General { capacity: 50 })],
        },
        Utc::now(),
    );
    store.update_venue(&edited).await.unwrap();
    assert!(
        matches!(store.update_venue(&edited).await, Err(StoreError::Conflict)),
        "writing the same version twice is a conflict"
    );
    assert_eq!(
        store.venue(edited.id).await.unwrap().unwrap().name,
        "Renamed"
    );

    let (page1, total) = store
        .venues(
            Some(organizer),
            PageRequest {
                page: 1,
                per_page: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 3, "only this organizer's venues count");
    assert_eq!(page1.len(), 2);
    let (page2, _) = store
        .venues(
            Some(organizer),
            PageRequest {
                page: 2,
                per_page: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page1[0].id, created[2].id, "newest first");
    let (_, everyone) = store
        .venues(
            None,
            PageRequest {
                page: 1,
                per_page: 10,
            },
        )
        .await
        .unwrap();
    assert!(everyone >= 4);
}

pub async fn events_use_optimistic_concurrency_and_write_the_outbox_atomically<S: CatalogStore>(
    store: &S,
) {
    let v = venue(UserId::new(), "Arena", "Berlin");
    store.insert_venue(&v).await.unwrap();
    let e = draft(&v, "Concert", "Loud", "music", 10);
    store.insert_event(&e).await.unwrap();
    assert_eq!(store.event(e.id).await.unwrap().unwrap(), e);
    assert!(store.event(EventId::new()).await.unwrap().is_none());

    let published = publish(store, &v, &e).await;
    let read = store.event(e.id).await.unwrap().unwrap();
    assert_eq!(read, published, "the fixed layout is stored with the event");
    assert_eq!(read.layout.as_ref().map(Vec::len), Some(2));

    // A stale write fails and leaves no message behind.
    let pending_before = store.pending_outbox(1000).await.unwrap();
    let (stale, _) = e.cancelled(None, Utc::now()).unwrap();
    let message = OutboxMessage::lifecycle(stale.cancelled_message(), None).unwrap();
    assert!(matches!(
        store.update_event(&stale, &[message]).await,
        Err(StoreError::Conflict)
    ));
    let pending_after = store.pending_outbox(1000).await.unwrap();
    assert_eq!(
        pending_before, pending_after,
        "a failed write queues nothing"
    );
    assert_eq!(
        store.event(e.id).await.unwrap().unwrap().status,
        EventStatus::Published
    );
}

pub async fn outbox_keeps_order_and_forgets_only_what_was_sent<S: CatalogStore>(store: &S) {
    let v = venue(UserId::new(), "Club", "Paris");
    store.insert_venue(&v).await.unwrap();
    let e = draft(&v, "Gig", "", "music", 3);
    store.insert_event(&e).await.unwrap();
    let published = publish(store, &v, &e).await;
    let (edited, changed) = published
        .edited(
            serde_json::from_value(serde_json::json!({"title": "Gig (moved)"})).unwrap(),
            None,
            Utc::now(),
        )
        .unwrap();
    let updated =
        OutboxMessage::lifecycle(edited.updated_message(changed), Some("req-1".into())).unwrap();
    store
        .update_event(&edited, std::slice::from_ref(&updated))
        .await
        .unwrap();

    let pending: Vec<_> = store
        .pending_outbox(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.key == e.id.to_string())
        .collect();
    let types: Vec<_> = pending.iter().map(|m| m.message_type.as_str()).collect();
    assert_eq!(
        types,
        ["EventPublished", "EventUpdated"],
        "in the order written"
    );
    assert_eq!(pending[1], updated, "stored byte for byte, id included");
    let envelope: serde_json::Value = serde_json::from_str(&pending[0].payload).unwrap();
    assert_eq!(envelope["id"], pending[0].id.to_string());
    assert_eq!(envelope["payload"]["sections"][0]["seats"][0]["id"], "A-1");

    store.mark_sent(&pending[..1]).await.unwrap();
    let left: Vec<_> = store
        .pending_outbox(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.key == e.id.to_string())
        .collect();
    assert_eq!(left, vec![updated.clone()]);
    store.mark_sent(&left).await.unwrap();
    assert!(store
        .pending_outbox(1000)
        .await
        .unwrap()
        .iter()
        .all(|m| m.key != e.id.to_string()));
}

pub async fn search_filters_sorts_and_pages<S: CatalogStore>(store: &S) {
    let organizer = UserId::new();
    let oslo = venue(organizer, "Opera", "Oslo");
    let rome = venue(organizer, "Colosseo", "Rome");
    store.insert_venue(&oslo).await.unwrap();
    store.insert_venue(&rome).await.unwrap();
    let specs = [
        (&oslo, "Jazz Night", "smooth saxophone quartet", "music", 5),
        (&oslo, "Swan Lake", "classic ballet", "dance", 10),
        (&rome, "Rock Festival", "guitars and drums", "music", 20),
        (
            &rome,
            "Opera Gala",
            "arias by the orchestra",
            "classical",
            30,
        ),
        (&oslo, "Comedy Hour", "stand-up jokes", "comedy", 40),
    ];
    for (v, title, description, category, days) in specs {
        let e = draft(v, title, description, category, days);
        store.insert_event(&e).await.unwrap();
        publish(store, v, &e).await;
    }
    let hidden = draft(&oslo, "Secret Jazz Draft", "not yet", "music", 6);
    store.insert_event(&hidden).await.unwrap();

    let (all, total) = store.search_events(&public(1, 100)).await.unwrap();
    assert_eq!(total, 5, "drafts are not public");
    assert_eq!(
        titles(&all),
        [
            "Jazz Night",
            "Swan Lake",
            "Rock Festival",
            "Opera Gala",
            "Comedy Hour"
        ]
    );
    assert!(
        all.iter().all(|e| e.layout.is_none()),
        "lists never carry the seat map"
    );

    let mut s = public(1, 100);
    s.text = Some(TextQuery::parse("saxophone"));
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0),
        ["Jazz Night"],
        "description text"
    );
    s.text = Some(TextQuery::parse("festival"));
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0),
        ["Rock Festival"],
        "title text"
    );

    let mut s = public(1, 100);
    s.category = Some("music".into());
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0),
        ["Jazz Night", "Rock Festival"]
    );
    s.city = Some("rome".into());
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0),
        ["Rock Festival"]
    );

    let mut s = public(1, 100);
    s.from = Some(Utc::now() + Duration::days(8));
    s.to = Some(Utc::now() + Duration::days(25));
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0),
        ["Swan Lake", "Rock Festival"]
    );

    let mut s = public(1, 100);
    s.sort = Sort::TitleAsc;
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0),
        [
            "Comedy Hour",
            "Jazz Night",
            "Opera Gala",
            "Rock Festival",
            "Swan Lake"
        ]
    );
    s.sort = Sort::StartsDesc;
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0)[0],
        "Comedy Hour"
    );

    let (page2, total) = store.search_events(&public(2, 2)).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(titles(&page2), ["Rock Festival", "Opera Gala"]);
    let (page3, _) = store.search_events(&public(3, 2)).await.unwrap();
    assert_eq!(titles(&page3), ["Comedy Hour"]);

    let mine = EventSearch {
        scope: Scope::Organizer(organizer, Some(EventStatus::Draft)),
        ..public(1, 100)
    };
    assert_eq!(
        titles(&store.search_events(&mine).await.unwrap().0),
        ["Secret Jazz Draft"]
    );
    let other = EventSearch {
        scope: Scope::Organizer(UserId::new(), None),
        ..public(1, 100)
    };
    assert_eq!(store.search_events(&other).await.unwrap().1, 0);
}

pub async fn money_and_currency_survive_the_store<S: CatalogStore>(store: &S) {
    let v = venue(UserId::new(), "Dome", "Tokyo");
    store.insert_venue(&v).await.unwrap();
    let mut e = draft(&v, "Taiko", "drums", "music", 2);
    e.currency = Currency::parse("JPY").unwrap();
    e.prices[0].price = 0;
    e.prices[1].price = 99_999_999;
    store.insert_event(&e).await.unwrap();
    assert_eq!(store.event(e.id).await.unwrap().unwrap(), e);
}

fn titled(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.title.clone()).collect()
}

async fn publish_all<S: CatalogStore>(
    store: &S,
    specs: &[(&str, &str, i64)],
) -> (Venue, Vec<Event>) {
    let v = venue(UserId::new(), "Hall", "Oslo");
    store.insert_venue(&v).await.unwrap();
    let mut out = Vec::new();
    for (title, description, days) in specs {
        let e = draft(&v, title, description, "music", *days);
        store.insert_event(&e).await.unwrap();
        out.push(publish(store, &v, &e).await);
    }
    (v, out)
}

async fn found<S: CatalogStore>(store: &S, q: &str, sort: Sort) -> (Vec<String>, u64) {
    let search = EventSearch {
        text: Some(TextQuery::parse(q)),
        sort,
        ..public(1, 100)
    };
    let (events, total) = store.search_events(&search).await.unwrap();
    (titled(&events), total)
}

pub async fn text_search_matches_words_prefixes_accents_and_exclusions<S: CatalogStore>(store: &S) {
    let (_, events) = publish_all(
        store,
        &[
            ("Café Müller", "Pina Bausch's dance theatre", 1),
            ("Rock Festival", "guitars and drums", 2),
            ("Swan Lake", "ballet by Tchaikovsky", 3),
        ],
    )
    .await;
    let only = |t: &str| (vec![t.to_string()], 1);
    let none = (Vec::<String>::new(), 0);
    let starts = Sort::StartsAsc;
    assert_eq!(found(store, "cafe", starts).await, only("Café Müller"));
    assert_eq!(found(store, "MÜLLER", starts).await, only("Café Müller"));
    assert_eq!(found(store, "bausch", starts).await, only("Café Müller"));
    assert_eq!(
        found(store, "guitars drums", starts).await,
        only("Rock Festival"),
        "all words"
    );
    assert_eq!(found(store, "guitars ballet", starts).await, none);
    assert_eq!(
        found(store, "tchaik", starts).await,
        only("Swan Lake"),
        "the last word is a prefix"
    );
    assert_eq!(found(store, "lake swa", starts).await, only("Swan Lake"));
    assert_eq!(
        found(store, "swa lake", starts).await,
        none,
        "earlier words are whole words"
    );
    assert_eq!(found(store, "fest", starts).await, only("Rock Festival"));
    assert_eq!(found(store, "festival -rock", starts).await, none);
    assert_eq!(
        found(store, "-rock", Sort::Relevance).await,
        (vec!["Café Müller".to_string(), "Swan Lake".to_string()], 2),
        "exclusions alone"
    );
    assert_eq!(
        found(store, "the", starts).await,
        none,
        "stop words alone match nothing"
    );
    assert_eq!(
        found(store, "(rock).*", starts).await,
        only("Rock Festival"),
        "no regex gets through"
    );

    // The words follow the event's edits.
    let festival = &events[1];
    let (edited, _) = festival
        .edited(
            serde_json::from_value(serde_json::json!({"title": "Rock Gala"})).unwrap(),
            None,
            Utc::now(),
        )
        .unwrap();
    store.update_event(&edited, &[]).await.unwrap();
    assert_eq!(found(store, "festival", starts).await, none);
    assert_eq!(found(store, "gala", starts).await, only("Rock Gala"));
}

pub async fn relevance_puts_title_matches_first_and_pages_across<S: CatalogStore>(store: &S) {
    publish_all(
        store,
        &[
            ("Jazz Night", "smooth saxophone", 5),
            ("Late Show", "a jazz trio and more", 1),
            ("Jazz Brunch", "eggs", 9),
            ("Blue Note", "jazz standards", 2),
            ("Rock Night", "loud", 3),
        ],
    )
    .await;
    let relevant = ["Jazz Night", "Jazz Brunch", "Late Show", "Blue Note"];
    assert_eq!(
        found(store, "jazz", Sort::Relevance).await,
        (relevant.map(String::from).to_vec(), 4),
        "title matches first, each part soonest first"
    );
    assert_eq!(
        found(store, "jazz", Sort::StartsAsc).await.0,
        ["Late Show", "Blue Note", "Jazz Night", "Jazz Brunch"]
    );
    for per_page in 1..=5 {
        let mut seen = Vec::new();
        for page in 1..=5 {
            let search = EventSearch {
                text: Some(TextQuery::parse("jazz")),
                sort: Sort::Relevance,
                ..public(page, per_page)
            };
            let (events, total) = store.search_events(&search).await.unwrap();
            assert_eq!(total, 4);
            assert!(events.len() <= per_page as usize);
            seen.extend(titled(&events));
        }
        assert_eq!(
            seen, relevant,
            "pages of {per_page} neither overlap nor skip"
        );
    }
}

pub async fn title_order_ignores_case<S: CatalogStore>(store: &S) {
    publish_all(
        store,
        &[("cherry", "", 1), ("apple Pie", "", 2), ("Banana", "", 3)],
    )
    .await;
    let mut s = public(1, 10);
    s.sort = Sort::TitleAsc;
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0),
        ["apple Pie", "Banana", "cherry"]
    );
    s.sort = Sort::TitleDesc;
    assert_eq!(
        titles(&store.search_events(&s).await.unwrap().0),
        ["cherry", "Banana", "apple Pie"]
    );
}

pub async fn a_message_written_while_sending_stays_pending<S: CatalogStore>(store: &S) {
    let (_, events) = publish_all(store, &[("Gig", "", 3)]).await;
    let being_sent = store.pending_outbox(100).await.unwrap();
    assert_eq!(being_sent.len(), 1);
    let (edited, changed) = events[0]
        .edited(
            serde_json::from_value(serde_json::json!({"title": "Gig 2"})).unwrap(),
            None,
            Utc::now(),
        )
        .unwrap();
    let later = OutboxMessage::lifecycle(edited.updated_message(changed), None).unwrap();
    store
        .update_event(&edited, std::slice::from_ref(&later))
        .await
        .unwrap();
    store.mark_sent(&being_sent).await.unwrap();
    assert_eq!(
        store.pending_outbox(100).await.unwrap(),
        vec![later.clone()]
    );
    store.mark_sent(&[later]).await.unwrap();
    assert!(store.pending_outbox(100).await.unwrap().is_empty());
    assert!(store.ping().await);
}

/// Writers racing on one event and a relay draining it at the same time: no
/// accepted write is lost (each is one version), no message is lost. On
/// FerretDB this holds only through the store's claimed revisions.
pub async fn concurrent_writers_and_the_relay_lose_nothing<S: CatalogStore>(store: &S) {
    const WRITERS: usize = 5;
    const EDITS: usize = 4;
    let (_, events) = publish_all(store, &[("Busy", "", 3)]).await;
    let id = events[0].id;
    let written = std::sync::Mutex::new(std::collections::HashSet::new());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let writer = |w: usize| {
        let written = &written;
        let done = &done;
        async move {
            let mut edits = 0;
            while edits < EDITS {
                let current = store.event(id).await.unwrap().unwrap();
                let (edited, changed) = current
                    .edited(
                        serde_json::from_value(
                            serde_json::json!({"title": format!("Busy {w}.{edits}")}),
                        )
                        .unwrap(),
                        None,
                        Utc::now(),
                    )
                    .unwrap();
                let message =
                    OutboxMessage::lifecycle(edited.updated_message(changed), None).unwrap();
                match store
                    .update_event(&edited, std::slice::from_ref(&message))
                    .await
                {
                    Ok(()) => {
                        written.lock().unwrap().insert(message.id);
                        edits += 1;
                    }
                    Err(StoreError::Conflict) => {}
                    Err(e) => panic!("{e:#}"),
                }
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let relay = async {
        let mut sent = std::collections::HashSet::new();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS;
            let pending = store.pending_outbox(100).await.unwrap();
            if finished && pending.is_empty() {
                return sent;
            }
            store.mark_sent(&pending).await.unwrap();
            sent.extend(pending.iter().map(|m| m.id));
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    };
    let (_, sent) =
        futures::future::join(futures::future::join_all((0..WRITERS).map(writer)), relay).await;
    let written = written.into_inner().unwrap();
    assert!(
        written.is_subset(&sent),
        "{} of {} messages never reached the relay",
        written.difference(&sent).count(),
        written.len()
    );
    let last = store.event(id).await.unwrap().unwrap();
    assert_eq!(
        last.version,
        events[0].version + (WRITERS * EDITS) as i64,
        "every accepted write is one version"
    );
}

// ---- MongoDB specifics: the indexes ------------------------------------

async fn index_keys(store: &MongoCatalog, collection: &str) -> Vec<(String, Document)> {
    let models: Vec<mongodb::IndexModel> = store
        .database()
        .collection::<Document>(collection)
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut out: Vec<_> = models
        .into_iter()
        .map(|m| (m.options.and_then(|o| o.name).unwrap_or_default(), m.keys))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn indexes_are_created_idempotently_and_stale_ones_replaced() {
    let database = TestDatabase::fresh().await;
    // What an earlier version left: an index of ours with other keys, a
    // retired one, and an event without the search fields.
    let store = database.store().await;
    let v = venue(UserId::new(), "Old Hall", "Oslo");
    store.insert_venue(&v).await.unwrap();
    let old = draft(&v, "Vintage Organ Recital", "bach", "classical", 4);
    store.insert_event(&old).await.unwrap();
    publish(&store, &v, &old).await;
    let events = store.database().collection::<Document>("events");
    events
        .update_one(
            doc! {"_id": old.id.to_string()},
            doc! {"$unset": {"keywords": "", "title_words": "", "title_key": ""}},
        )
        .await
        .unwrap();
    events.drop_index("status_title_key").await.unwrap();
    let legacy = |name: &str, keys: Document| {
        mongodb::IndexModel::builder()
            .keys(keys)
            .options(
                mongodb::options::IndexOptions::builder()
                    .name(name.to_string())
                    .build(),
            )
            .build()
    };
    events
        .create_indexes([
            legacy("status_title_key", doc! {"status": 1, "title": 1}),
            legacy("status_title", doc! {"status": 1, "title": 1, "_id": 1}),
        ])
        .await
        .unwrap();
    store.shutdown().await;

    let store = database.store().await;
    let again = database.store().await;
    again.shutdown().await;
    let names: Vec<String> = index_keys(&store, "events")
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        [
            "_id_",
            "organizer_created",
            "outbox_flag",
            "status_category_starts",
            "status_category_title_key",
            "status_city_starts",
            "status_city_title_key",
            "status_created",
            "status_keywords",
            "status_starts",
            "status_title_key",
        ]
    );
    let title_key = index_keys(&store, "events")
        .await
        .into_iter()
        .find(|(name, _)| name == "status_title_key")
        .unwrap()
        .1;
    assert_eq!(
        title_key.keys().collect::<Vec<_>>(),
        ["status", "title_key", "_id"]
    );
    assert_eq!(
        index_keys(&store, "venues")
            .await
            .into_iter()
            .map(|(name, _)| name)
            .collect::<Vec<_>>(),
        ["_id_", "organizer_created"]
    );
    assert_eq!(
        found(&store, "organ", Sort::Relevance).await,
        (vec!["Vintage Organ Recital".to_string()], 1),
        "the old event got its search fields"
    );
    store.shutdown().await;
}

/// Every generic contract test on a fresh database of its own.
macro_rules! on_mongodb {
    ($($test:ident),+ $(,)?) => {
        mod on_mongodb {
            $(
                #[tokio::test]
                async fn $test() {
                    let database = super::TestDatabase::fresh().await;
                    let store = database.store().await;
                    super::$test(&store).await;
                    store.shutdown().await;
                }
            )+
        }
    };
}

on_mongodb!(
    venues_round_trip_with_versions,
    events_use_optimistic_concurrency_and_write_the_outbox_atomically,
    outbox_keeps_order_and_forgets_only_what_was_sent,
    search_filters_sorts_and_pages,
    money_and_currency_survive_the_store,
    text_search_matches_words_prefixes_accents_and_exclusions,
    relevance_puts_title_matches_first_and_pages_across,
    title_order_ignores_case,
    a_message_written_while_sending_stays_pending,
    concurrent_writers_and_the_relay_lose_nothing,
);
