//! The bounds of `frame::limits` as the JSON transcoder counts them in its own pass, against
//! the oracle's pre-scan: at each bound a body is accepted by both, one past it refused by both
//! with the same limit, whether the values sit in a known field (the transcoder's own
//! containers) or an unknown one (its skip), and a bound a body exceeds wins over an earlier or
//! a later error, as the pre-scan decides before any parse.

use super::{Verdict, agree};
use crate::frame::Encoding;
use crate::frame::limits::{MAX_DEPTH, MAX_ELEMENTS, MAX_MESSAGES};

const SESSION: &str = "892e23e2-8272-4b07-85e8-5e291ac85f93";

fn repeat(item: &str, n: usize) -> String {
    vec![item; n].join(",")
}

/// The verdict of both paths (they must agree), as `accepted` or the refusal's class.
fn verdict(body: &str) -> String {
    match agree(body.as_bytes(), Encoding::Json) {
        Verdict::Accepted { .. } => "accepted".into(),
        Verdict::Refused { class, .. } => class,
    }
}

fn expect(what: &str, body: &str, want: &str) {
    let got = verdict(body);
    println!("{what}: {} bytes: {got}", body.len());
    assert_eq!(got, want, "{what}");
}

fn too_many_messages() -> String {
    format!("limit frame holds more than {MAX_MESSAGES} messages")
}

fn too_many_values() -> String {
    format!("limit frame holds more than {MAX_ELEMENTS} values")
}

/// `n` copies of `item` in a list in a known field (`known`, inside the session) and in an
/// unknown one: accepted at `at`, refused with `past` at `at + 1`.
fn at_and_past(known: &str, item: &str, at: usize, past: &str) {
    let session = format!(r#""sessionid":"{SESSION}""#);
    for (what, field) in [("known", known), ("unknown", "")] {
        let body = |n: usize| {
            let list = repeat(item, n);
            if field.is_empty() {
                format!(r#"{{"session":{{{session}}},"zz":[{list}]}}"#)
            } else {
                format!(r#"{{"session":{{{session},"{field}":[{list}]}}}}"#)
            }
        };
        expect(&format!("{what}: at the bound"), &body(at), "accepted");
        expect(&format!("{what}: one past it"), &body(at + 1), past);
    }
}

#[test]
fn messages_are_counted_in_known_and_unknown_fields() {
    // `{` frame, `{` session, then n objects.
    at_and_past("teams", "{}", MAX_MESSAGES - 2, &too_many_messages());
}

#[test]
fn values_are_counted_in_known_and_unknown_fields() {
    // Containers `{` `{` `[` and one `,` before the list: k numbers make 3 + 1 + (k - 1) values.
    at_and_past("possession", "0", MAX_ELEMENTS - 3, &too_many_values());
}

#[test]
fn depth_is_counted_in_skipped_values() {
    // The frame's `{` is level 1; k nested lists reach level 1 + k.
    let body = |k: usize| {
        format!(
            r#"{{"session":{{"sessionid":"{SESSION}"}},"zz":{}{}}}"#,
            "[".repeat(k),
            "]".repeat(k)
        )
    };
    expect("at the bound", &body(MAX_DEPTH - 1), "accepted");
    expect(
        "one past it",
        &body(MAX_DEPTH),
        &format!("limit frame nests deeper than {MAX_DEPTH} levels"),
    );
    // Objects count as levels too.
    let objects = |k: usize| {
        format!(
            r#"{{"session":{{"sessionid":"{SESSION}"}},"zz":{}1{}}}"#,
            r#"{"a":"#.repeat(k),
            "}".repeat(k)
        )
    };
    expect("objects at the bound", &objects(MAX_DEPTH - 1), "accepted");
    expect(
        "objects one past it",
        &objects(MAX_DEPTH),
        &format!("limit frame nests deeper than {MAX_DEPTH} levels"),
    );
}

#[test]
fn an_exceeded_bound_wins_over_any_other_error() {
    let many = repeat("{}", MAX_MESSAGES);
    // A schema error before the excess, a syntax error after it, a missing session, and
    // commas inside strings (data, not values).
    expect(
        "schema error first",
        &format!(r#"{{"frameIndex":"abc","zz":[{many}]}}"#),
        &too_many_messages(),
    );
    expect(
        "syntax error after",
        &format!(r#"{{"session":{{"sessionid":"{SESSION}"}},"zz":[{many}]] x"#),
        &too_many_messages(),
    );
    expect(
        "no session",
        &format!(r#"{{"zz":[{many}]}}"#),
        &too_many_messages(),
    );
    let commas = ",".repeat(MAX_ELEMENTS + 1);
    expect(
        "commas in a string",
        &format!(r#"{{"session":{{"sessionid":"{SESSION}"}},"zz":"{commas}"}}"#),
        "accepted",
    );
}
