//! 64-bit integers, and numbers as strings where protojson allows them.

use super::*;

#[test]
fn sixty_four_bit_ints_accepted_as_strings_and_numbers() {
    let big = u64::MAX; // not representable as a double
    for (account, rules) in [
        (json!(big.to_string()), json!("1710015000")),
        (json!(big), json!(1_710_015_000u64)),
    ] {
        let body = minimal(json!({
            "session": {
                "sessionid": SESSION,
                "rules_changed_at": rules,
                "teams": [{"players": [{"userid": account, "playerid": 1}]}]
            }
        }));
        let frame = ok(&json(&body)).frame;
        let session = frame.session.as_ref().unwrap();
        assert_eq!(session.rules_changed_at, 1_710_015_000);
        assert_eq!(session.teams[0].players[0].account_number, big);

        // Emitted as strings, whatever the input was.
        let out = serde_json::to_value(&frame).unwrap();
        assert_eq!(out["session"]["rules_changed_at"], json!("1710015000"));
        assert_eq!(
            out["session"]["teams"][0]["players"][0]["userid"],
            json!(big.to_string())
        );
    }
    // The proto name works too, and 2^53 + 1 survives (a double would round it).
    let body = minimal(json!({
        "session": {"sessionid": SESSION, "teams": [{"players": [{"account_number": 9_007_199_254_740_993u64}]}]}
    }));
    let frame = ok(&json(&body)).frame;
    assert_eq!(
        frame.session.unwrap().teams[0].players[0].account_number,
        9_007_199_254_740_993
    );
}

#[test]
fn sixty_four_bit_ints_out_of_range_or_fractional_are_refused() {
    for bad in [
        json!(-1),
        json!("-1"),
        json!(1.5),
        json!("18446744073709551616"),
        json!("12ab"),
    ] {
        let body = minimal(json!({"session": {"sessionid": SESSION, "rules_changed_at": bad}}));
        let e = err(&json(&body));
        assert!(matches!(e, FrameError::Schema(_)), "{bad}: {e}");
    }
}

#[test]
fn numbers_as_strings_are_accepted_where_protojson_allows() {
    let body = minimal(
        json!({"frameIndex": "17", "session": {"sessionid": SESSION, "game_clock": "12.5", "blue_points": "3"}}),
    );
    let f = ok(&json(&body)).frame;
    assert_eq!(f.frame_index, 17);
    let s = f.session.unwrap();
    assert_eq!((s.game_clock, s.blue_points), (12.5, 3));
}
