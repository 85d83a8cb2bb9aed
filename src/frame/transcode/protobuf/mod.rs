//! Binary protobuf → BSON, driven by the schema tables, with prost's decoding rules.
//!
//! Protobuf fields arrive in any order, may repeat (the last scalar wins, a message's
//! occurrences merge, a oneof keeps its last member), and repeated scalars may be packed. So
//! each message is read in two steps, both over the input bytes only: note where each field
//! occurs (`Occurrence`, in a reused buffer), then write the fields in schema order from those
//! notes. A merged message is read from all its occurrences in turn, which is what merging
//! means in protobuf. Everything prost would decode is validated (varints, lengths, UTF-8, wire
//! types, group nesting), including values a later occurrence replaces.

mod values;
mod wire;

use super::bson;
use super::{Deferred, Scratch, write_timestamp};
use crate::frame::limits::{self, MAX_DEPTH};
use crate::proto::schema::{self, Cardinality, Field, Kind, Message, WireType};
use values::{Elem, scalar};
use wire::{
    R, RECURSION_LIMIT, accepts_wire, err, key, key_of, nested, skip_group, value_range, varint,
};

/// The depth the limits pre-scan reads the fields of a message at, from prost's recursion
/// budget left for them (the frame's fields: budget `RECURSION_LIMIT`, depth 1; each nested
/// message, timestamp or map entry one less budget, one more depth).
fn prescan_depth(limit: u32) -> usize {
    1 + (RECURSION_LIMIT - limit) as usize
}

/// Where one field of the message being written occurs in the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Occurrence {
    /// Index into the message's fields.
    field: u16,
    wire: u8,
    /// The value's bytes (a varint, 4 or 8 bytes, or a length-delimited payload).
    start: u32,
    end: u32,
}

/// A protobuf map entry while a map is sorted: key and value ranges of the body, and the
/// entry's place in the input (the last of equal keys wins).
pub(crate) type MapItem = ((usize, usize), (usize, usize), usize);

/// The bytes a message is read from: one range, or the payloads of a run of occurrences (a
/// message field that occurs more than once: they merge).
#[derive(Clone, Copy)]
enum Segments {
    One(usize, usize),
    Merged(usize, usize),
}

struct Decoder<'a, 's> {
    b: &'a [u8],
    out: &'s mut Vec<u8>,
    scratch: &'s mut Scratch,
    deferred: &'s mut Deferred,
    /// Whether the limits pre-scan must run after all (see [`transcode`]).
    prescan: bool,
}

/// Transcodes `body`; `Ok(true)` when the limits pre-scan ([`limits::check`]) must still run
/// on it, because it might refuse the body. It cannot when the body is shorter than
/// [`limits::PROTOBUF_FEW_MESSAGES_BYTES`] and no payload the scan would look into without the
/// schema (strings, packed scalars, unknown fields: the message fields are read here at the
/// same depths as the scan reads them) nests too deep ([`limits::payload_too_deep`]), which is
/// what an honest frame is: so the second pass over the body is skipped.
pub(super) fn transcode(
    body: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
    deferred: &mut Deferred,
) -> R<bool> {
    scratch.wire.clear();
    scratch.session_id.clear();
    let mut d = Decoder {
        b: body,
        out,
        scratch,
        deferred,
        prescan: body.len() >= limits::PROTOBUF_FEW_MESSAGES_BYTES,
    };
    d.message(
        schema::frame(),
        Segments::One(0, body.len()),
        None,
        RECURSION_LIMIT,
    )?;
    Ok(d.prescan)
}

impl<'a> Decoder<'a, '_> {
    /// The body, without borrowing the decoder.
    #[inline]
    fn body(&self) -> &'a [u8] {
        self.b
    }

    /// Notes a length-delimited payload this decoder does not read as a message, which the
    /// pre-scan reads at `depth`: when it might nest too deep there, the pre-scan runs.
    /// `deep_len` is [`limits::min_too_deep_len`] of `depth`, computed once per message by the
    /// caller: most payloads are shorter, and cost one comparison here.
    #[inline]
    fn opaque_payload(&mut self, start: usize, end: usize, depth: usize, deep_len: usize) {
        if end - start >= deep_len {
            self.long_opaque_payload(start, end, depth);
        }
    }

    #[cold]
    #[inline(never)]
    fn long_opaque_payload(&mut self, start: usize, end: usize, depth: usize) {
        if !self.prescan && limits::payload_too_deep(&self.b[start..end], depth) {
            self.prescan = true;
        }
    }

    /// Notes every field of the message in `segs`, then writes the document in schema order.
    /// `limit` is prost's recursion budget left for the message's fields.
    fn message(
        &mut self,
        msg: &'static Message,
        segs: Segments,
        parent: Option<&'static Field>,
        limit: u32,
    ) -> R<()> {
        let base = self.scratch.wire.len();
        if prescan_depth(limit) >= MAX_DEPTH {
            // Never for this schema (it nests ~7 deep); the pre-scan decides.
            self.prescan = true;
        }
        match segs {
            Segments::One(a, b) => self.scan(msg, a, b, limit)?,
            Segments::Merged(first, last) => {
                for i in first..last {
                    let o = self.scratch.wire[i];
                    self.scan(msg, o.start as usize, o.end as usize, limit)?;
                }
            }
        }
        // Stable by construction: notes are pushed in input order, and the key adds it.
        self.scratch.wire[base..].sort_unstable_by_key(|o| (o.field, o.start));
        let doc = bson::begin(self.out);
        let winners = self.oneof_winners(msg, base);
        let mut i = base;
        let end = self.scratch.wire.len();
        while i < end {
            let field_idx = self.scratch.wire[i].field;
            let mut j = i + 1;
            while j < end && self.scratch.wire[j].field == field_idx {
                j += 1;
            }
            let field = &msg.fields[field_idx as usize];
            match field.oneof {
                Some(o) => {
                    let (winner, after) = winners[usize::from(o)];
                    if winner == field_idx {
                        // The members' notes before the last other member were replaced.
                        let from = (i..j)
                            .find(|&k| self.scratch.wire[k].start > after)
                            .unwrap_or(j);
                        self.validate_only(msg, field, i, from, limit)?;
                        self.field(msg, field, parent, from, j, limit)?;
                    } else {
                        self.validate_only(msg, field, i, j, limit)?;
                    }
                }
                None => self.field(msg, field, parent, i, j, limit)?,
            }
            i = j;
        }
        self.scratch.wire.truncate(base);
        bson::end(self.out, doc);
        Ok(())
    }

    /// Per oneof (at most 8): the member that occurs last, and where the last occurrence of any
    /// *other* member is (its notes up to there were replaced).
    fn oneof_winners(&self, msg: &Message, base: usize) -> [(u16, u32); 8] {
        let mut last = [(u16::MAX, 0u32); 8];
        if msg.oneofs.is_empty() {
            return last;
        }
        for o in &self.scratch.wire[base..] {
            if let Some(k) = msg.fields[o.field as usize].oneof {
                let slot = &mut last[usize::from(k)];
                if slot.0 == u16::MAX || o.start > slot.1 {
                    *slot = (o.field, o.start);
                }
            }
        }
        let mut winners = [(u16::MAX, 0u32); 8];
        for (k, &(field, _)) in last.iter().enumerate() {
            let after = self.scratch.wire[base..]
                .iter()
                .filter(|o| o.field != field && msg.fields[o.field as usize].oneof == Some(k as u8))
                .map(|o| o.start)
                .max()
                .unwrap_or(0);
            winners[k] = (field, after);
        }
        winners
    }

    /// Decodes notes `[from, to)` of a field whose value was replaced: prost decoded them too,
    /// so their errors count, but nothing of them is stored or checked further.
    fn validate_only(
        &mut self,
        msg: &'static Message,
        field: &'static Field,
        from: usize,
        to: usize,
        limit: u32,
    ) -> R<()> {
        if from == to {
            return Ok(());
        }
        let len = self.out.len();
        let saved = self.deferred.snapshot();
        let session = self.scratch.session_id.len();
        let result = self.field(msg, field, None, from, to, limit);
        self.out.truncate(len);
        self.deferred.restore(saved);
        self.scratch.session_id.truncate(session);
        result
    }

    /// Reads the fields of one message payload, noting each known field's value.
    fn scan(&mut self, msg: &'static Message, start: usize, end: usize, limit: u32) -> R<()> {
        let b = &self.body()[..end];
        let mut at = start;
        let mut hint = 0usize;
        // The depth the pre-scan reads this message's length-delimited values at.
        let depth = prescan_depth(limit) + 1;
        let deep_len = limits::min_too_deep_len(depth);
        while at < end {
            let (tag, wire) = key(b, &mut at)?;
            let idx = msg.field_index_by_number_after(tag, hint);
            if wire == 3 {
                if idx.is_some() {
                    return Err(err("invalid wire type: group for a known field"));
                }
                skip_group(b, &mut at, tag, limit)?;
                continue;
            }
            if wire == 4 {
                return Err(err("unexpected end group tag"));
            }
            let Some(idx) = idx else {
                let (vs, ve) = value_range(b, &mut at, wire)?;
                if wire == 2 {
                    self.opaque_payload(vs, ve, depth, deep_len);
                }
                continue;
            };
            hint = idx + 1;
            let field = &msg.fields[idx];
            if !accepts_wire(field, wire) {
                return Err(err("invalid wire type"));
            }
            let (vs, ve) = value_range(b, &mut at, wire)?;
            if wire == 2
                && !matches!(
                    field.kind,
                    Kind::Message(_) | Kind::Timestamp | Kind::Map(_)
                )
            {
                self.opaque_payload(vs, ve, depth, deep_len);
            }
            if let Kind::String = field.kind
                && std::str::from_utf8(&self.b[vs..ve]).is_err()
            {
                return Err(err("invalid string value: data is not UTF-8 encoded"));
            }
            self.scratch.wire.push(Occurrence {
                field: idx as u16,
                wire,
                start: vs as u32,
                end: ve as u32,
            });
        }
        Ok(())
    }

    /// Writes one field from its notes `[from, to)` (nothing for a default).
    fn field(
        &mut self,
        msg: &'static Message,
        field: &'static Field,
        parent: Option<&'static Field>,
        from: usize,
        to: usize,
        limit: u32,
    ) -> R<()> {
        if from == to {
            return Ok(());
        }
        let key = field.json_name.as_bytes();
        match field.cardinality {
            Cardinality::Repeated => {
                let start = self.out.len();
                bson::header(self.out, bson::ARRAY, key);
                let doc = bson::begin(self.out);
                let mut n = 0u32;
                for k in from..to {
                    let o = self.scratch.wire[k];
                    match field.kind {
                        Kind::Message(m) => {
                            bson::index_header(self.out, bson::DOCUMENT, n);
                            self.message(
                                m,
                                Segments::One(o.start as usize, o.end as usize),
                                Some(field),
                                nested(limit)?,
                            )?;
                            n += 1;
                        }
                        Kind::Double | Kind::Float if o.wire == WireType::Len as u8 => {
                            let range = (o.start as usize, o.end as usize);
                            self.packed_floats(msg, field, parent, range, &mut n)?;
                        }
                        kind if o.wire == WireType::Len as u8 && kind.is_packable() => {
                            let mut at = o.start as usize;
                            let b = &self.body()[..o.end as usize];
                            while at < o.end as usize {
                                let v = scalar(b, &mut at, kind)?;
                                self.scalar(msg, field, parent, v, Elem::Index(n), false);
                                n += 1;
                            }
                        }
                        kind => {
                            let mut at = o.start as usize;
                            let v = scalar(&self.body()[..o.end as usize], &mut at, kind)?;
                            self.scalar(msg, field, parent, v, Elem::Index(n), false);
                            n += 1;
                        }
                    }
                }
                if n == 0 {
                    self.out.truncate(start);
                } else {
                    bson::end(self.out, doc);
                }
            }
            Cardinality::Map => self.map(field, from, to, limit)?,
            Cardinality::Singular | Cardinality::Optional => match field.kind {
                Kind::Message(m) => {
                    bson::header(self.out, bson::DOCUMENT, key);
                    let segs = if to - from == 1 {
                        let o = self.scratch.wire[from];
                        Segments::One(o.start as usize, o.end as usize)
                    } else {
                        Segments::Merged(from, to)
                    };
                    self.message(m, segs, Some(field), nested(limit)?)?;
                    if std::ptr::eq(msg, schema::frame()) && field.number == 4 {
                        self.deferred.session = true;
                    }
                }
                Kind::Timestamp => {
                    let (seconds, nanos) = self.timestamp(from, to, limit)?;
                    let top = std::ptr::eq(msg, schema::frame());
                    let (s, n) = self.deferred.timestamp(seconds, nanos, top);
                    bson::header(self.out, bson::STRING, key);
                    write_timestamp(self.out, s, n);
                }
                Kind::String | Kind::Bytes => {
                    let o = self.scratch.wire[to - 1];
                    let s = &self.body()[o.start as usize..o.end as usize];
                    if std::ptr::eq(msg, &schema::ENGINE_V1_SESSION_RESPONSE) && field.number == 2 {
                        self.scratch.session_id.clear();
                        self.scratch.session_id.extend_from_slice(s);
                    }
                    if let Kind::Bytes = field.kind {
                        return Err(err("bytes fields are not supported"));
                    }
                    if !s.is_empty() {
                        bson::header(self.out, bson::STRING, key);
                        bson::string(self.out, s);
                    }
                }
                kind => {
                    let o = self.scratch.wire[to - 1];
                    let mut at = o.start as usize;
                    let v = scalar(&self.body()[..o.end as usize], &mut at, kind)?;
                    self.scalar(msg, field, parent, v, Elem::Name(key), true);
                }
            },
        }
        Ok(())
    }

    /// A `google.protobuf.Timestamp` merged from its occurrences: (seconds, nanos).
    fn timestamp(&mut self, from: usize, to: usize, limit: u32) -> R<(i64, i32)> {
        let limit = nested(limit)?;
        let (mut seconds, mut nanos) = (0i64, 0i32);
        // The depth the pre-scan reads this message's length-delimited values at.
        let depth = prescan_depth(limit) + 1;
        let deep_len = limits::min_too_deep_len(depth);
        for k in from..to {
            let o = self.scratch.wire[k];
            let b = &self.body()[..o.end as usize];
            let mut at = o.start as usize;
            while at < o.end as usize {
                let (tag, wire) = key(b, &mut at)?;
                match (tag, wire) {
                    (1 | 2, 0) => {
                        let v = varint(b, &mut at)?;
                        if tag == 1 {
                            seconds = v as i64;
                        } else {
                            nanos = v as i32;
                        }
                    }
                    (1 | 2, _) => return Err(err("invalid wire type")),
                    (_, 3) => skip_group(b, &mut at, tag, limit)?,
                    (_, 4) => return Err(err("unexpected end group tag")),
                    (_, w) => {
                        let (vs, ve) = value_range(b, &mut at, w)?;
                        if w == 2 {
                            self.opaque_payload(vs, ve, depth, deep_len);
                        }
                    }
                }
            }
        }
        Ok((seconds, nanos))
    }

    /// A `map<string, string>`: entries sorted by key, the last of equal keys kept.
    fn map(&mut self, field: &'static Field, from: usize, to: usize, limit: u32) -> R<()> {
        let limit = nested(limit)?;
        let mut items = std::mem::take(&mut self.scratch.map);
        // The depth the pre-scan reads this message's length-delimited values at.
        let depth = prescan_depth(limit) + 1;
        let deep_len = limits::min_too_deep_len(depth);
        items.clear();
        for k in from..to {
            let o = self.scratch.wire[k];
            let b = &self.body()[..o.end as usize];
            let mut at = o.start as usize;
            let (mut key, mut value) = ((0, 0), (0, 0));
            while at < o.end as usize {
                let (tag, wire) = key_of(b, &mut at)?;
                match (tag, wire) {
                    (1 | 2, 2) => {
                        let r = value_range(b, &mut at, 2)?;
                        self.opaque_payload(r.0, r.1, depth, deep_len);
                        if std::str::from_utf8(&b[r.0..r.1]).is_err() {
                            return Err(err("invalid string value: data is not UTF-8 encoded"));
                        }
                        if tag == 1 {
                            key = r;
                        } else {
                            value = r;
                        }
                    }
                    (1 | 2, _) => return Err(err("invalid wire type")),
                    (_, 3) => skip_group(b, &mut at, tag, limit)?,
                    (_, 4) => return Err(err("unexpected end group tag")),
                    (_, w) => {
                        let (vs, ve) = value_range(b, &mut at, w)?;
                        if w == 2 {
                            self.opaque_payload(vs, ve, depth, deep_len);
                        }
                    }
                }
            }
            items.push((key, value, k));
        }
        let b = self.body();
        items.sort_unstable_by(|x, y| b[x.0.0..x.0.1].cmp(&b[y.0.0..y.0.1]).then(x.2.cmp(&y.2)));
        bson::header(self.out, bson::DOCUMENT, field.json_name.as_bytes());
        let doc = bson::begin(self.out);
        for (i, &(k, v, _)) in items.iter().enumerate() {
            let superseded = items
                .get(i + 1)
                .is_some_and(|next| b[next.0.0..next.0.1] == b[k.0..k.1]);
            if superseded {
                continue;
            }
            self.deferred.data_key(&b[k.0..k.1]);
            bson::header(self.out, bson::STRING, &b[k.0..k.1]);
            bson::string(self.out, &b[v.0..v.1]);
        }
        bson::end(self.out, doc);
        self.scratch.map = items;
        Ok(())
    }
}
