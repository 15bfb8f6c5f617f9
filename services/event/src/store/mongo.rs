//! The MongoDB store (the `mongodb` 3 driver): MongoDB 7 in docker-compose and
//! k8s, FerretDB 1.24 (MongoDB's wire protocol on PostgreSQL) locally and in
//! CI. Everything here keeps to what both servers do: no transactions or
//! sessions, no text, partial, sparse or TTL indexes, no collation, no update
//! pipelines, no aggregation beyond what `count_documents` sends.
//!
//! Collections `venues` and `events` hold one document per aggregate: the
//! domain document under `doc`, plus top-level fields we filter, sort and
//! check versions on (BSON dates, so ranges compare as times), and for events
//! the search words (`keywords`, `title_words`; see `domain::text`).
//!
//! Outbox without multi-document transactions: pending lifecycle messages
//! live in the event document itself (`outbox` array, flagged by
//! `has_outbox`). The state change and its messages are one single-document
//! update. The relay finds flagged events through an index on the flag,
//! produces, then removes exactly the sent entries in another update of the
//! document.
//!
//! Every update of a document goes through `guard::Claims`: FerretDB's
//! conditional updates are not atomic, a claimed revision is (see there).

use super::guard::{Claims, Decision};
use super::{join_event, split_event, CatalogStore, OutboxMessage, StoreError, StoreResult};
use crate::domain::event::Event;
use crate::domain::search::{EventSearch, Scope, Sort};
use crate::domain::text::{Keywords, TextQuery};
use crate::domain::venue::Venue;
use anyhow::Context;
use chrono::{DateTime, Utc};
use common_types::page::PageRequest;
use common_types::{EventId, UserId, VenueId};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, Database, IndexModel};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The database when neither the settings nor the URI name one.
pub const DEFAULT_DATABASE: &str = "evently_event";

/// Indexes an earlier version created that nothing queries any more (the
/// text index also cannot exist on FerretDB). Dropped at start-up.
const RETIRED_INDEXES: &[&str] = &["title_description_text", "status_title", "outbox_pending"];

/// MongoDB's "namespace not found": listing the indexes of a collection
/// nobody has written to yet.
const NAMESPACE_NOT_FOUND: i32 = 26;

#[derive(Clone)]
pub struct MongoCatalog {
    client: Client,
    db: Database,
    venues: Collection<Document>,
    events: Collection<Document>,
    claims: Claims,
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

fn skip(page: &PageRequest) -> u64 {
    u64::try_from(page.offset()).unwrap_or(0)
}

/// One outbox array entry. `mark_sent` removes entries by equality with this
/// same shape, so the field order and the explicit `null` matter.
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

fn index(name: &str, keys: Document) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().name(name.to_string()).build())
        .build()
}

fn venue_indexes() -> Vec<IndexModel> {
    vec![index(
        "organizer_created",
        doc! {"organizer_id": 1, "created_at": -1, "_id": -1},
    )]
}

/// Every index names the query it serves in docs/db-event.md.
fn event_indexes() -> Vec<IndexModel> {
    vec![
        index(
            "status_starts",
            doc! {"status": 1, "starts_at": 1, "_id": 1},
        ),
        index(
            "status_category_starts",
            doc! {"status": 1, "category": 1, "starts_at": 1},
        ),
        index(
            "status_city_starts",
            doc! {"status": 1, "city_key": 1, "starts_at": 1},
        ),
        index(
            "status_title_key",
            doc! {"status": 1, "title_key": 1, "_id": 1},
        ),
        index(
            "status_city_title_key",
            doc! {"status": 1, "city_key": 1, "title_key": 1, "_id": 1},
        ),
        index(
            "status_category_title_key",
            doc! {"status": 1, "category": 1, "title_key": 1, "_id": 1},
        ),
        index("status_created", doc! {"status": 1, "created_at": -1}),
        index(
            "organizer_created",
            doc! {"organizer_id": 1, "created_at": -1},
        ),
        // Multikey: one entry per word, so `$all` and an anchored `$regex`
        // on `keywords` are index range scans.
        index("status_keywords", doc! {"status": 1, "keywords": 1}),
        // Not partial (FerretDB has no partial indexes): every event is in
        // it, but the relay's `has_outbox: true` reads only flagged ones.
        index("outbox_flag", doc! {"has_outbox": 1}),
    ]
}

/// Same fields in the same order with the same directions (servers may hand
/// back `1` as another numeric type than we sent).
fn same_keys(a: &Document, b: &Document) -> bool {
    let number = |v: &Bson| match v {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    };
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| {
            ka == kb
                && match (number(va), number(vb)) {
                    (Some(x), Some(y)) => x == y,
                    _ => va == vb,
                }
        })
}

/// The fields a text search reads; recomputed on every write of the event.
fn search_fields(event: &Event) -> Document {
    let keywords = Keywords::of(&event.title, event.description.as_deref());
    doc! {
        "title_key": event.title.to_lowercase(),
        "keywords": keywords.all,
        "title_words": keywords.title,
    }
}

/// The conditions `query` puts on one keyword array (`keywords` for the
/// match, `title_words` for ranking).
fn text_conditions(field: &str, query: &TextQuery, with_exclusions: bool) -> Vec<Document> {
    let mut conditions = Vec::new();
    if !query.all.is_empty() {
        conditions.push(doc! {field: {"$all": query.all.clone()}});
    }
    if let Some(prefix) = &query.prefix {
        // Anchored and case-sensitive (the words are already lower case), so
        // MongoDB turns it into index bounds.
        conditions.push(doc! {field: {"$regex": format!("^{}", regex_escape(prefix))}});
    }
    if with_exclusions && !query.none.is_empty() {
        conditions.push(doc! {field: {"$nin": query.none.clone()}});
    }
    conditions
}

/// Normalised words are letters and digits only; escaping anything else keeps
/// it that way should normalising ever change.
fn regex_escape(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if !c.is_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The query's first whole word again, as a top-level equality: redundant
/// with `$all`, but FerretDB pushes only top-level equalities down to
/// PostgreSQL (measured on 20,000 events: 0.07 s instead of 7.8 s), and
/// MongoDB reads it as bounds on the multikey index.
fn with_first_word(mut filter: Document, query: &TextQuery) -> Document {
    if let Some(word) = query.all.first() {
        filter.insert("keywords", word);
    }
    filter
}

fn with_conditions(mut filter: Document, conditions: Vec<Document>) -> Document {
    if !conditions.is_empty() {
        filter.insert("$and", conditions);
    }
    filter
}

/// What to change so a collection has exactly the indexes this version
/// queries (besides `_id_` and any an operator added under other names).
struct IndexPlan {
    /// Retired names, and ours whose keys or options changed (creating those
    /// under the same name would fail).
    drop: Vec<String>,
    /// Only the missing ones: FerretDB 1.24 drops the connection when one
    /// `createIndexes` repeats several existing indexes, and MongoDB needs
    /// no repeat either.
    create: Vec<IndexModel>,
}

fn index_name(model: &IndexModel) -> Option<&str> {
    model.options.as_ref().and_then(|o| o.name.as_deref())
}

impl IndexPlan {
    async fn for_collection(
        collection: &Collection<Document>,
        wanted: Vec<IndexModel>,
    ) -> anyhow::Result<Self> {
        let existing: Vec<IndexModel> = match collection.list_indexes().await {
            Ok(cursor) => cursor.try_collect().await?,
            Err(e) if matches!(&*e.kind, ErrorKind::Command(c) if c.code == NAMESPACE_NOT_FOUND) => {
                Vec::new()
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("listing the indexes of {}", collection.name()))
            }
        };
        let mut drop = Vec::new();
        let mut kept = Vec::new();
        for model in &existing {
            let Some(name) = index_name(model) else {
                continue;
            };
            let changed = wanted.iter().any(|w| {
                index_name(w) == Some(name)
                    && (!same_keys(&w.keys, &model.keys)
                        || model
                            .options
                            .as_ref()
                            .is_some_and(|o| o.partial_filter_expression.is_some()))
            });
            if changed || RETIRED_INDEXES.contains(&name) {
                drop.push(name.to_string());
            } else {
                kept.push(name);
            }
        }
        let create = wanted
            .into_iter()
            .filter(|w| index_name(w).is_none_or(|n| !kept.contains(&n)))
            .collect();
        Ok(Self { drop, create })
    }

    async fn apply(self, collection: &Collection<Document>) -> anyhow::Result<()> {
        for name in self.drop {
            collection
                .drop_index(&name)
                .await
                .with_context(|| format!("dropping the index {name}"))?;
            tracing::info!(
                collection = collection.name(),
                index = name,
                "dropped an index"
            );
        }
        if !self.create.is_empty() {
            collection
                .create_indexes(self.create)
                .await
                .context("creating indexes")?;
        }
        Ok(())
    }
}

impl MongoCatalog {
    /// Connect, check the server answers, and bring the indexes to what this
    /// version queries (idempotent). `database` is used as given.
    pub async fn connect(uri: &str, database: &str) -> anyhow::Result<Self> {
        let mut options = mongodb::options::ClientOptions::parse(uri)
            .await
            .context("parsing the MongoDB URI (mongodb_uri / MONGODB_URI)")?;
        options.app_name = Some("evently-event".into());
        options.server_selection_timeout = Some(Duration::from_secs(5));
        let client = Client::with_options(options)?;
        let db = client.database(database);
        db.run_command(doc! {"ping": 1}).await.with_context(|| {
            format!(
                "MongoDB at {} does not answer (locally: `make infra` starts it)",
                redacted(uri)
            )
        })?;
        let store = Self {
            venues: db.collection("venues"),
            events: db.collection("events"),
            claims: Claims::new(db.collection("claims")),
            client,
            db,
        };
        store.prepare_indexes().await?;
        Ok(store)
    }

    /// The database name `connect` should use: the configured one, else the
    /// URI's own (`mongodb://host/name`), else `evently_event`.
    pub async fn database_name(uri: &str, configured: Option<&str>) -> anyhow::Result<String> {
        if let Some(name) = configured.map(str::trim).filter(|n| !n.is_empty()) {
            return Ok(name.to_string());
        }
        let options = mongodb::options::ClientOptions::parse(uri)
            .await
            .context("parsing the MongoDB URI (mongodb_uri / MONGODB_URI)")?;
        Ok(options
            .default_database
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string()))
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Close the connections (ends the driver's sessions politely).
    pub async fn shutdown(&self) {
        self.client.clone().shutdown().await;
    }

    #[tracing::instrument(name = "mongo.prepare_indexes", skip_all)]
    async fn prepare_indexes(&self) -> anyhow::Result<()> {
        let events = IndexPlan::for_collection(&self.events, event_indexes()).await?;
        // Retired indexes mean a database an earlier version wrote: its events
        // predate the search fields. Filled in before those indexes go, so a
        // crash here just repeats it at the next start.
        if events
            .drop
            .iter()
            .any(|n| RETIRED_INDEXES.contains(&n.as_str()))
        {
            self.backfill_search_fields().await?;
        }
        events.apply(&self.events).await.context("event indexes")?;
        IndexPlan::for_collection(&self.venues, venue_indexes())
            .await?
            .apply(&self.venues)
            .await
            .context("venue indexes")?;
        // Also creates the collection, which concurrent first inserts could
        // otherwise race to do.
        let claims = self.claims.collection();
        IndexPlan::for_collection(claims, vec![index("claims_at", doc! {"at": 1})])
            .await?
            .apply(claims)
            .await
            .context("claim indexes")?;
        Ok(())
    }

    #[tracing::instrument(name = "mongo.backfill_search_fields", skip_all)]
    async fn backfill_search_fields(&self) -> anyhow::Result<()> {
        let mut cursor = self
            .events
            .find(doc! {"keywords": {"$exists": false}})
            .projection(doc! {"_id": 1})
            .await?;
        let mut filled = 0_u64;
        while let Some(stored) = cursor.try_next().await? {
            let Ok(id) = stored.get_str("_id") else {
                continue;
            };
            self.claims
                .write(
                    &self.events,
                    id,
                    doc! {"doc": 1, "keywords": 1},
                    |current| {
                        if current.contains_key("keywords") {
                            return Ok(Decision::Nothing);
                        }
                        let event = Self::event_from(current.clone())?;
                        Ok(Decision::Write(doc! {
                            "$set": search_fields(&event),
                            "$unset": {"title": "", "description": ""},
                        }))
                    },
                )
                .await?;
            filled += 1;
        }
        tracing::info!(events = filled, "search fields filled in");
        Ok(())
    }

    fn venue_fields(venue: &Venue) -> StoreResult<Document> {
        Ok(doc! {
            "organizer_id": venue.organizer_id.to_string(),
            "created_at": date(venue.created_at),
            "version": venue.version,
            "doc": to_bson(&serde_json::to_value(venue)?)?,
        })
    }

    fn venue_document(venue: &Venue) -> StoreResult<Document> {
        let mut document = doc! {"_id": venue.id.to_string()};
        document.extend(Self::venue_fields(venue)?);
        document.insert("revision", 0_i64);
        Ok(document)
    }

    /// The top-level fields of an event document (everything but `_id` and the outbox).
    fn event_fields(event: &Event) -> StoreResult<Document> {
        let (doc, layout) = split_event(event)?;
        let mut fields = doc! {
            "organizer_id": event.organizer_id.to_string(),
            "venue_id": event.venue_id.to_string(),
            "status": event.status.as_str(),
            "category": &event.category,
            "city_key": event.city.to_lowercase(),
            "starts_at": date(event.starts_at),
            "created_at": date(event.created_at),
            "version": event.version,
        };
        fields.extend(search_fields(event));
        fields.insert("doc", to_bson(&doc)?);
        fields.insert("layout", to_bson(&layout)?);
        Ok(fields)
    }

    /// A new event document: its fields and an empty outbox.
    fn event_document(event: &Event) -> StoreResult<Document> {
        let mut document = doc! {"_id": event.id.to_string()};
        document.extend(Self::event_fields(event)?);
        document.insert("outbox", Bson::Array(vec![]));
        document.insert("has_outbox", false);
        document.insert("revision", 0_i64);
        Ok(document)
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

    /// The filter of a search without its text part.
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

    /// One page of `filter` in `sort` order, without layouts.
    async fn page(
        &self,
        filter: Document,
        sort: Document,
        skip: u64,
        limit: i64,
    ) -> StoreResult<Vec<Event>> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let docs: Vec<Document> = self
            .events
            .find(filter)
            .projection(doc! {"doc": 1})
            .sort(sort)
            .skip(skip)
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        docs.into_iter().map(Self::event_from).collect()
    }

    /// Best match first without a text score: events whose title has every
    /// query word come first, the rest after, each part soonest first. One
    /// page may span both parts; the counts say where the seam is.
    async fn by_relevance(
        &self,
        base: Document,
        query: &TextQuery,
        page: &PageRequest,
    ) -> StoreResult<(Vec<Event>, u64)> {
        let matching = text_conditions("keywords", query, true);
        let in_title = text_conditions("title_words", query, false);
        let order = doc! {"starts_at": 1, "_id": 1};
        let base = with_first_word(base, query);
        let all = with_conditions(base.clone(), matching.clone());
        if in_title.is_empty() {
            let total = self.events.count_documents(all.clone()).await?;
            let events = self.page(all, order, skip(page), page.limit()).await?;
            return Ok((events, total));
        }
        let first = with_conditions(base.clone(), [matching.clone(), in_title.clone()].concat());
        let rest = with_conditions(
            base,
            [matching, vec![doc! {"$nor": [{"$and": in_title}]}]].concat(),
        );
        let (total, in_first) = tokio::try_join!(
            self.events.count_documents(all),
            self.events.count_documents(first.clone()),
        )?;
        let offset = skip(page);
        let limit = page.limit();
        let events = if offset < in_first {
            let mut events = self.page(first, order.clone(), offset, limit).await?;
            let missing = limit - i64::try_from(events.len()).unwrap_or(limit);
            events.extend(self.page(rest, order, 0, missing).await?);
            events
        } else {
            self.page(rest, order, offset - in_first, limit).await?
        };
        Ok((events, total))
    }

    /// Bulk load (seeding a benchmark or an import): plain inserts of new
    /// events, in batches, no messages.
    #[tracing::instrument(name = "mongo.insert_events", skip_all, fields(events = events.len()))]
    pub async fn insert_events(&self, events: &[Event]) -> StoreResult<()> {
        for batch in events.chunks(1_000) {
            let documents = batch
                .iter()
                .map(Self::event_document)
                .collect::<StoreResult<Vec<_>>>()?;
            self.events.insert_many(documents).await?;
        }
        Ok(())
    }
}

/// The URI without its password, for messages.
fn redacted(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &uri[..scheme + 3], &uri[at..])
        }
        _ => uri.to_string(),
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
        let fields = Self::venue_fields(venue)?;
        self.claims
            .write(
                &self.venues,
                &venue.id.to_string(),
                doc! {"version": 1},
                |current| {
                    expect_version(current, venue.version - 1)?;
                    Ok(Decision::Write(doc! {"$set": fields.clone()}))
                },
            )
            .await
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
            .skip(skip(&page))
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
        self.events.insert_one(Self::event_document(event)?).await?;
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
        self.claims
            .write(
                &self.events,
                &event.id.to_string(),
                doc! {"version": 1},
                |current| {
                    expect_version(current, event.version - 1)?;
                    Ok(Decision::Write(update.clone()))
                },
            )
            .await
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
        let base = Self::filter(search);
        let text = search.text.as_ref();
        if text.is_some_and(TextQuery::matches_nothing) {
            return Ok((Vec::new(), 0));
        }
        let sort = match search.sort {
            Sort::StartsAsc => doc! {"starts_at": 1, "_id": 1},
            Sort::StartsDesc => doc! {"starts_at": -1, "_id": -1},
            Sort::TitleAsc => doc! {"title_key": 1, "_id": 1},
            Sort::TitleDesc => doc! {"title_key": -1, "_id": -1},
            Sort::Newest => doc! {"created_at": -1, "_id": -1},
            Sort::Relevance => match text {
                Some(query) => return self.by_relevance(base, query, &search.page).await,
                None => doc! {"starts_at": 1, "_id": 1},
            },
        };
        let filter = match text {
            Some(query) => with_conditions(
                with_first_word(base, query),
                text_conditions("keywords", query, true),
            ),
            None => base,
        };
        let (events, total) = tokio::try_join!(
            self.page(
                filter.clone(),
                sort,
                skip(&search.page),
                search.page.limit()
            ),
            async { Ok(self.events.count_documents(filter).await?) },
        )?;
        Ok((events, total))
    }

    #[tracing::instrument(name = "mongo.pending_outbox", skip(self))]
    async fn pending_outbox(&self, limit: u32) -> StoreResult<Vec<OutboxMessage>> {
        // The relay's pass is this store's clock for housekeeping.
        self.claims.sweep().await?;
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

    /// Removes exactly the sent entries, in one claimed write per event, so a
    /// message written meanwhile stays and the flag follows what is left.
    #[tracing::instrument(name = "mongo.mark_sent", skip_all, fields(messages = sent.len()))]
    async fn mark_sent(&self, sent: &[OutboxMessage]) -> StoreResult<()> {
        // Lifecycle messages are keyed by their event's id.
        let mut by_event: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
        for m in sent {
            by_event
                .entry(m.key.as_str())
                .or_default()
                .insert(m.id.to_string());
        }
        for (event_id, ids) in by_event {
            let written = self
                .claims
                .write(&self.events, event_id, doc! {"outbox": 1}, |current| {
                    let entries = current
                        .get_array("outbox")
                        .map_err(|e| StoreError::Backend(e.into()))?;
                    let left: Vec<Bson> = entries
                        .iter()
                        .filter(|entry| {
                            entry
                                .as_document()
                                .and_then(|e| e.get_str("id").ok())
                                .is_none_or(|id| !ids.contains(id))
                        })
                        .cloned()
                        .collect();
                    if left.len() == entries.len() {
                        return Ok(Decision::Nothing);
                    }
                    let pending = !left.is_empty();
                    Ok(Decision::Write(
                        doc! {"$set": {"outbox": left, "has_outbox": pending}},
                    ))
                })
                .await;
            match written {
                // A vanished event has nothing left to send; one too busy to
                // write keeps its entries, sent again next pass (at least once).
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
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

/// The optimistic-concurrency check: the stored version is the one the
/// new state was derived from.
fn expect_version(current: &Document, expected: i64) -> StoreResult<()> {
    let stored = match current.get("version") {
        Some(Bson::Int64(n)) => Some(*n),
        Some(Bson::Int32(n)) => Some(i64::from(*n)),
        _ => None,
    };
    if stored == Some(expected) {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// The conversions and filters the adapter builds, checked without a server
/// (through real BSON bytes); the contract suite runs the queries.
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

        let stored = over_the_wire(&MongoCatalog::event_document(&event).unwrap());
        assert!(
            matches!(stored.get("starts_at"), Some(Bson::DateTime(_))),
            "dates are BSON dates"
        );
        assert_eq!(stored.get_i64("version").unwrap(), event.version);
        assert_eq!(stored.get_str("title_key").unwrap(), "show");
        assert_eq!(
            stored.get_array("keywords").unwrap(),
            &vec![Bson::String("show".into())]
        );
        assert_eq!(
            MongoCatalog::event_from(stored).unwrap(),
            event,
            "layout included"
        );

        let draft = Event {
            layout: None,
            ..event
        };
        assert_eq!(
            MongoCatalog::event_from(over_the_wire(
                &MongoCatalog::event_document(&draft).unwrap()
            ))
            .unwrap(),
            draft
        );
    }

    #[test]
    fn outbox_entries_survive_bson_unchanged() {
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
        let stored = over_the_wire(&outbox_entry(&anonymous));
        assert_eq!(outbox_from(&stored).unwrap(), anonymous);
        assert_eq!(
            outbox_entry(&outbox_from(&stored).unwrap()),
            stored,
            "re-encoding what was read gives the stored entry"
        );
    }

    #[test]
    fn search_filters_use_the_indexed_fields() {
        let search = EventSearch::parse(
            serde_json::from_value(serde_json::json!({
                "q": "Jazz Fest", "category": "Music", "city": "Oslo",
                "from": "2030-01-01T00:00:00Z", "to": "2030-02-01T00:00:00Z"
            }))
            .unwrap(),
            None,
        )
        .unwrap();
        let filter = MongoCatalog::filter(&search);
        assert_eq!(filter.get_str("status").unwrap(), "published");
        assert_eq!(filter.get_str("category").unwrap(), "music");
        assert_eq!(filter.get_str("city_key").unwrap(), "oslo");
        let range = filter.get_document("starts_at").unwrap();
        assert!(matches!(range.get("$gte"), Some(Bson::DateTime(_))));
        assert!(matches!(range.get("$lte"), Some(Bson::DateTime(_))));
        let text = text_conditions("keywords", search.text.as_ref().unwrap(), true);
        assert_eq!(
            text,
            vec![
                doc! {"keywords": {"$all": ["jazz"]}},
                doc! {"keywords": {"$regex": "^fest"}},
            ]
        );
    }

    #[test]
    fn index_keys_compare_by_value_not_numeric_type() {
        assert!(same_keys(
            &doc! {"a": 1, "b": -1},
            &doc! {"a": 1.0, "b": -1_i64}
        ));
        assert!(!same_keys(&doc! {"a": 1, "b": -1}, &doc! {"b": -1, "a": 1}));
        assert!(!same_keys(&doc! {"a": 1}, &doc! {"a": 1, "b": 1}));
        assert!(!same_keys(&doc! {"a": "text"}, &doc! {"a": 1}));
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("mongodb://u:secret@db:27017/x"),
            "mongodb://***@db:27017/x"
        );
        assert_eq!(
            redacted("mongodb://127.0.0.1:27017"),
            "mongodb://127.0.0.1:27017"
        );
    }
}
