//! The MongoDB adapter (the `mongodb` 3 driver).
//!
//! Collections `venues` and `events` hold one document per aggregate: the
//! domain document under `doc`, plus top-level fields we filter, sort and
//! check versions on (BSON dates, so ranges compare as times).
//!
//! Outbox without multi-document transactions (which need a replica set):
//! pending lifecycle messages live in the event document itself (`outbox`
//! array, flagged by `has_outbox`). The state change and its messages are one
//! single-document update, which MongoDB applies atomically on any topology.
//! The relay finds flagged events through a partial index, produces, then
//! removes exactly the sent ids with an update pipeline (so a message pushed
//! meanwhile stays).

use super::{join_event, split_event, CatalogStore, OutboxMessage, StoreError, StoreResult};
use crate::domain::event::Event;
use crate::domain::search::{EventSearch, Scope, Sort};
use crate::domain::venue::Venue;
use anyhow::Context;
use chrono::{DateTime, Utc};
use common_types::page::PageRequest;
use common_types::{EventId, UserId, VenueId};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, Database, IndexModel};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone)]
pub struct MongoCatalog {
    db: Database,
    venues: Collection<Document>,
    events: Collection<Document>,
}

fn date(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

fn to_bson(value: &serde_json::Value) -> StoreResult<Bson> {
    bson::to_bson(value).map_err(|e| StoreError::Backend(e.into()))
}

fn to_json(value: Bson) -> StoreResult<serde_json::Value> {
    bson::from_bson(value).map_err(|e| StoreError::Backend(e.into()))
}

fn outbox_entry(m: &OutboxMessage) -> Document {
    doc! {
        "id": m.id.to_string(),
        "topic": &m.topic,
        "key": &m.key,
        "message_type": &m.message_type,
        "payload": &m.payload,
        "request_id": m.request_id.clone(),
    }
}

fn outbox_from(entry: &Document) -> StoreResult<OutboxMessage> {
    let text = |k: &str| -> StoreResult<String> {
        entry
            .get_str(k)
            .map(str::to_string)
            .map_err(|e| StoreError::Backend(anyhow::anyhow!("outbox entry field {k}: {e}")))
    };
    Ok(OutboxMessage {
        id: text("id")?
            .parse()
            .map_err(|e: uuid::Error| StoreError::Backend(e.into()))?,
        topic: text("topic")?,
        key: text("key")?,
        message_type: text("message_type")?,
        payload: text("payload")?,
        request_id: entry.get_str("request_id").ok().map(str::to_string),
    })
}

impl MongoCatalog {
    /// Connect and create the indexes (idempotent). `database` overrides the
    /// URI's default database (tests use one per run).
    pub async fn connect(uri: &str, database: Option<&str>) -> anyhow::Result<Self> {
        let mut options = mongodb::options::ClientOptions::parse(uri)
            .await
            .context("parsing MONGODB_URI")?;
        options.app_name = Some("evently-event".into());
        options.server_selection_timeout = Some(Duration::from_secs(5));
        let client = Client::with_options(options)?;
        let db = match database {
            Some(name) => client.database(name),
            None => client
                .default_database()
                .unwrap_or_else(|| client.database("evently_event")),
        };
        let store = Self {
            venues: db.collection("venues"),
            events: db.collection("events"),
            db,
        };
        store.create_indexes().await?;
        Ok(store)
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn create_indexes(&self) -> anyhow::Result<()> {
        let index = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build()
        };
        self.venues
            .create_indexes([index(
                doc! {"organizer_id": 1, "created_at": -1, "_id": -1},
                "organizer_created",
            )])
            .await
            .context("creating venue indexes")?;
        let text = IndexModel::builder()
            .keys(doc! {"title": "text", "description": "text"})
            .options(
                IndexOptions::builder()
                    .name("title_description_text".to_string())
                    .weights(doc! {"title": 10, "description": 3})
                    .default_language("english".to_string())
                    .build(),
            )
            .build();
        let pending = IndexModel::builder()
            .keys(doc! {"has_outbox": 1})
            .options(
                IndexOptions::builder()
                    .name("outbox_pending".to_string())
                    .partial_filter_expression(doc! {"has_outbox": true})
                    .build(),
            )
            .build();
        self.events
            .create_indexes([
                index(
                    doc! {"status": 1, "starts_at": 1, "_id": 1},
                    "status_starts",
                ),
                index(
                    doc! {"status": 1, "category": 1, "starts_at": 1},
                    "status_category_starts",
                ),
                index(
                    doc! {"status": 1, "city_key": 1, "starts_at": 1},
                    "status_city_starts",
                ),
                index(doc! {"status": 1, "title": 1, "_id": 1}, "status_title"),
                index(doc! {"status": 1, "created_at": -1}, "status_created"),
                index(
                    doc! {"organizer_id": 1, "created_at": -1},
                    "organizer_created",
                ),
                text,
                pending,
            ])
            .await
            .context("creating event indexes")?;
        Ok(())
    }

    fn venue_document(venue: &Venue) -> StoreResult<Document> {
        Ok(doc! {
            "_id": venue.id.to_string(),
            "organizer_id": venue.organizer_id.to_string(),
            "created_at": date(venue.created_at),
            "version": venue.version,
            "doc": to_bson(&serde_json::to_value(venue)?)?,
        })
    }

    /// The top-level fields of an event document (everything but `_id` and the outbox).
    fn event_fields(event: &Event) -> StoreResult<Document> {
        let (doc, layout) = split_event(event)?;
        Ok(doc! {
            "organizer_id": event.organizer_id.to_string(),
            "venue_id": event.venue_id.to_string(),
            "status": event.status.as_str(),
            "title": &event.title,
            "description": event.description.clone().unwrap_or_default(),
            "category": &event.category,
            "city_key": event.city.to_lowercase(),
            "starts_at": date(event.starts_at),
            "created_at": date(event.created_at),
            "version": event.version,
            "doc": to_bson(&doc)?,
            "layout": to_bson(&layout)?,
        })
    }

    fn event_from(mut stored: Document) -> StoreResult<Event> {
        let doc = stored
            .remove("doc")
            .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("event document without doc")))?;
        let layout = stored.remove("layout").map(to_json).transpose()?;
        join_event(to_json(doc)?, layout)
    }

    fn venue_from(mut stored: Document) -> StoreResult<Venue> {
        let doc = stored
            .remove("doc")
            .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("venue document without doc")))?;
        Ok(serde_json::from_value(to_json(doc)?)?)
    }

    fn filter(search: &EventSearch) -> Document {
        let mut filter = match &search.scope {
            Scope::Public => doc! {"status": "published"},
            Scope::Organizer(id, status) => {
                let mut f = doc! {"organizer_id": id.to_string()};
                if let Some(status) = status {
                    f.insert("status", status.as_str());
                }
                f
            }
        };
        if let Some(text) = &search.text {
            filter.insert("$text", doc! {"$search": text});
        }
        if let Some(category) = &search.category {
            filter.insert("category", category);
        }
        if let Some(city) = &search.city {
            filter.insert("city_key", city);
        }
        let mut range = Document::new();
        if let Some(from) = search.from {
            range.insert("$gte", date(from));
        }
        if let Some(to) = search.to {
            range.insert("$lte", date(to));
        }
        if !range.is_empty() {
            filter.insert("starts_at", range);
        }
        filter
    }
}

impl CatalogStore for MongoCatalog {
    #[tracing::instrument(name = "mongo.insert_venue", skip_all, fields(venue_id = %venue.id))]
    async fn insert_venue(&self, venue: &Venue) -> StoreResult<()> {
        self.venues.insert_one(Self::venue_document(venue)?).await?;
        Ok(())
    }

    #[tracing::instrument(name = "mongo.update_venue", skip_all, fields(venue_id = %venue.id))]
    async fn update_venue(&self, venue: &Venue) -> StoreResult<()> {
        let replacement = Self::venue_document(venue)?;
        let done = self
            .venues
            .replace_one(
                doc! {"_id": venue.id.to_string(), "version": venue.version - 1},
                replacement,
            )
            .await?;
        if done.matched_count == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    #[tracing::instrument(name = "mongo.venue", skip(self))]
    async fn venue(&self, id: VenueId) -> StoreResult<Option<Venue>> {
        self.venues
            .find_one(doc! {"_id": id.to_string()})
            .await?
            .map(Self::venue_from)
            .transpose()
    }

    #[tracing::instrument(name = "mongo.venues", skip(self))]
    async fn venues(
        &self,
        organizer: Option<UserId>,
        page: PageRequest,
    ) -> StoreResult<(Vec<Venue>, u64)> {
        let filter = match organizer {
            Some(id) => doc! {"organizer_id": id.to_string()},
            None => doc! {},
        };
        let docs: Vec<Document> = self
            .venues
            .find(filter.clone())
            .sort(doc! {"created_at": -1, "_id": -1})
            .skip(u64::try_from(page.offset()).unwrap_or(0))
            .limit(page.limit())
            .await?
            .try_collect()
            .await?;
        let total = self.venues.count_documents(filter).await?;
        let venues = docs
            .into_iter()
            .map(Self::venue_from)
            .collect::<StoreResult<_>>()?;
        Ok((venues, total))
    }

    #[tracing::instrument(name = "mongo.insert_event", skip_all, fields(event_id = %event.id))]
    async fn insert_event(&self, event: &Event) -> StoreResult<()> {
        let mut document = doc! {"_id": event.id.to_string()};
        document.extend(Self::event_fields(event)?);
        document.insert("outbox", Bson::Array(vec![]));
        document.insert("has_outbox", false);
        self.events.insert_one(document).await?;
        Ok(())
    }

    #[tracing::instrument(name = "mongo.update_event", skip_all, fields(event_id = %event.id, version = event.version, messages = outbox.len()))]
    async fn update_event(&self, event: &Event, outbox: &[OutboxMessage]) -> StoreResult<()> {
        let mut set = Self::event_fields(event)?;
        let mut update = Document::new();
        if !outbox.is_empty() {
            set.insert("has_outbox", true);
            let entries: Vec<Bson> = outbox
                .iter()
                .map(|m| Bson::Document(outbox_entry(m)))
                .collect();
            update.insert("$push", doc! {"outbox": {"$each": entries}});
        }
        update.insert("$set", set);
        let done = self
            .events
            .update_one(
                doc! {"_id": event.id.to_string(), "version": event.version - 1},
                update,
            )
            .await?;
        if done.matched_count == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    #[tracing::instrument(name = "mongo.event", skip(self))]
    async fn event(&self, id: EventId) -> StoreResult<Option<Event>> {
        self.events
            .find_one(doc! {"_id": id.to_string()})
            .projection(doc! {"doc": 1, "layout": 1})
            .await?
            .map(Self::event_from)
            .transpose()
    }

    #[tracing::instrument(name = "mongo.search_events", skip(self))]
    async fn search_events(&self, search: &EventSearch) -> StoreResult<(Vec<Event>, u64)> {
        let filter = Self::filter(search);
        let sort = match search.sort {
            Sort::StartsAsc => doc! {"starts_at": 1, "_id": 1},
            Sort::StartsDesc => doc! {"starts_at": -1, "_id": -1},
            Sort::TitleAsc => doc! {"title": 1, "_id": 1},
            Sort::TitleDesc => doc! {"title": -1, "_id": -1},
            Sort::Newest => doc! {"created_at": -1, "_id": -1},
            Sort::Relevance => doc! {"score": {"$meta": "textScore"}, "starts_at": 1, "_id": 1},
        };
        let docs: Vec<Document> = self
            .events
            .find(filter.clone())
            .projection(doc! {"doc": 1})
            .sort(sort)
            .skip(u64::try_from(search.page.offset()).unwrap_or(0))
            .limit(search.page.limit())
            .await?
            .try_collect()
            .await?;
        let total = self.events.count_documents(filter).await?;
        let events = docs
            .into_iter()
            .map(Self::event_from)
            .collect::<StoreResult<_>>()?;
        Ok((events, total))
    }

    async fn pending_outbox(&self, limit: u32) -> StoreResult<Vec<OutboxMessage>> {
        let docs: Vec<Document> = self
            .events
            .find(doc! {"has_outbox": true})
            .projection(doc! {"outbox": 1})
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for d in docs {
            let entries = d
                .get_array("outbox")
                .map_err(|e| StoreError::Backend(e.into()))?;
            for entry in entries {
                if let Bson::Document(entry) = entry {
                    out.push(outbox_from(entry)?);
                }
            }
        }
        Ok(out)
    }

    async fn mark_sent(&self, sent: &[OutboxMessage]) -> StoreResult<()> {
        let mut by_event: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for m in sent {
            by_event
                .entry(m.key.as_str())
                .or_default()
                .push(m.id.to_string());
        }
        for (event_id, ids) in by_event {
            // A pipeline update: removes exactly these ids and recomputes the
            // flag from what is left, atomically.
            let pipeline = vec![
                doc! {"$set": {"outbox": {"$filter": {
                    "input": "$outbox",
                    "cond": {"$not": [{"$in": ["$$this.id", ids]}]},
                }}}},
                doc! {"$set": {"has_outbox": {"$gt": [{"$size": "$outbox"}, 0]}}},
            ];
            self.events
                .update_one(doc! {"_id": event_id}, pipeline)
                .await?;
        }
        Ok(())
    }

    async fn ping(&self) -> bool {
        let check = self.db.run_command(doc! {"ping": 1});
        matches!(
            tokio::time::timeout(Duration::from_secs(2), check).await,
            Ok(Ok(_))
        )
    }
}

/// No MongoDB runs on the development machines, so the conversions the
/// adapter relies on are checked here through real BSON bytes; the contract
/// suite covers the queries when `MONGODB_URI` is set.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::domain::event::{CreateEventRequest, PriceRequest};
    use crate::domain::search::EventSearch;
    use crate::domain::venue::{RowPlan, SectionPlan, VenueContent};
    use common_types::messages::lifecycle::LifecycleEvent;

    fn published() -> (Venue, Event) {
        let venue = Venue::create(
            UserId::new(),
            VenueContent {
                name: "Hall".into(),
                city: "Oslo".into(),
                address: None,
                sections: vec![
                    (
                        "Stalls".into(),
                        SectionPlan::Reserved {
                            rows: vec![RowPlan {
                                label: "A".into(),
                                seats: 3,
                            }],
                        },
                    ),
                    ("Floor".into(), SectionPlan::General { capacity: 7 }),
                ],
            },
            Utc::now(),
        );
        let draft = Event::create(
            CreateEventRequest {
                title: "Show".into(),
                description: None,
                category: "music".into(),
                venue_id: venue.id,
                starts_at: Utc::now() + chrono::Duration::days(2),
                ends_at: None,
                currency: "EUR".into(),
                prices: venue
                    .sections
                    .iter()
                    .map(|s| PriceRequest {
                        section_id: s.id,
                        price: 1_250,
                    })
                    .collect(),
                max_tickets_per_user: Some(2),
                sales_start: None,
                sales_end: None,
            },
            &venue,
            venue.organizer_id,
            Utc::now(),
        )
        .unwrap();
        let (event, _) = draft.published(&venue, Utc::now()).unwrap();
        (venue, event)
    }

    /// Through encoded BSON, as a document would come back from the server.
    fn over_the_wire(document: &Document) -> Document {
        let bytes = bson::to_vec(document).unwrap();
        bson::from_slice(&bytes).unwrap()
    }

    #[test]
    fn venues_and_events_survive_bson() {
        let (venue, event) = published();
        let stored = over_the_wire(&MongoCatalog::venue_document(&venue).unwrap());
        assert_eq!(stored.get_str("_id").unwrap(), venue.id.to_string());
        assert_eq!(MongoCatalog::venue_from(stored).unwrap(), venue);

        let mut document = doc! {"_id": event.id.to_string()};
        document.extend(MongoCatalog::event_fields(&event).unwrap());
        let stored = over_the_wire(&document);
        assert!(
            matches!(stored.get("starts_at"), Some(Bson::DateTime(_))),
            "dates are BSON dates"
        );
        assert_eq!(stored.get_i64("version").unwrap(), event.version);
        assert_eq!(
            MongoCatalog::event_from(stored).unwrap(),
            event,
            "layout included"
        );

        let draft = Event {
            layout: None,
            ..event
        };
        let mut document = doc! {"_id": draft.id.to_string()};
        document.extend(MongoCatalog::event_fields(&draft).unwrap());
        assert_eq!(
            MongoCatalog::event_from(over_the_wire(&document)).unwrap(),
            draft
        );
    }

    #[test]
    fn outbox_entries_survive_bson() {
        let (_, event) = published();
        let message = OutboxMessage::lifecycle(
            LifecycleEvent::EventCancelled {
                event_id: event.id,
                organizer_id: event.organizer_id,
                title: event.title.clone(),
                reason: None,
            },
            Some("req".into()),
        )
        .unwrap();
        let stored = over_the_wire(&outbox_entry(&message));
        assert_eq!(outbox_from(&stored).unwrap(), message);
        let anonymous = OutboxMessage {
            request_id: None,
            ..message
        };
        assert_eq!(
            outbox_from(&over_the_wire(&outbox_entry(&anonymous))).unwrap(),
            anonymous
        );
    }

    #[test]
    fn search_filters_use_the_indexed_fields() {
        let search = EventSearch::parse(
            serde_json::from_value(serde_json::json!({
                "q": "jazz", "category": "Music", "city": "Oslo",
                "from": "2030-01-01T00:00:00Z", "to": "2030-02-01T00:00:00Z"
            }))
            .unwrap(),
            None,
        )
        .unwrap();
        let filter = MongoCatalog::filter(&search);
        assert_eq!(filter.get_str("status").unwrap(), "published");
        assert_eq!(
            filter
                .get_document("$text")
                .unwrap()
                .get_str("$search")
                .unwrap(),
            "jazz"
        );
        assert_eq!(filter.get_str("category").unwrap(), "music");
        assert_eq!(filter.get_str("city_key").unwrap(), "oslo");
        let range = filter.get_document("starts_at").unwrap();
        assert!(matches!(range.get("$gte"), Some(Bson::DateTime(_))));
        assert!(matches!(range.get("$lte"), Some(Bson::DateTime(_))));
    }
}
