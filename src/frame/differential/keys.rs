//! Keys against the transcoder's inline check of the next field in schema order (before the
//! general lookup): in order, out of order, in proto and JSON names, repeated, and a list of
//! numbers (the double lists' own loop) beside other values, all as the oracle decides.

use super::{Verdict, agree};
use crate::frame::Encoding;

const SESSION: &str = r#""sessionid":"892E23E2-8272-4B07-85E8-5E291AC85F93""#;

#[test]
fn keys_in_and_out_of_schema_order_agree() {
    let s = SESSION;
    let disc = [
        r#""position":[1,2,3],"forward":[0,0,1],"left":[1,0,0],"up":[0,1,0],"velocity":[1.5,-2,3]"#,
        r#""velocity":[1.5,-2,3],"up":[0,1,0],"left":[1,0,0],"forward":[0,0,1],"position":[1,2,3]"#,
        r#""position":[1,2,3],"velocity":[1.5],"forward":[0,0,1]"#,
        r#""position":[1],"position":[2]"#,
        r#""position":[1],"forward":[2],"position":[3]"#,
        r#""position":[1],"x":[2],"forward":[3]"#,
        r#""positio":[1],"forward":[3]"#,
        r#""positionx":[1]"#,
        r#""bounce_count":3,"position":[1]"#,
        r#""bounceCount":3,"bounce_count":4"#,
        r#""position":[1,"NaN",2,"-Infinity"]"#,
        r#""position":["Infinity",1]"#,
        r#""position":["1.5",2]"#,
        r#""position":[1,true]"#,
        r#""position":[1,null]"#,
        r#""position":[null]"#,
        r#""position":[1,{}]"#,
        r#""position":[1,[2]]"#,
        r#""position":[]"#,
        r#""position":[ ]"#,
        r#""position":[1,]"#,
        r#""position":[,1]"#,
        r#""position":[1 2]"#,
        r#""position":[1"#,
        r#""position":[-]"#,
        r#""position":null"#,
        r#""position":1"#,
    ];
    let mut accepted = 0;
    for d in disc {
        for body in [
            format!(r#"{{"session":{{{s},"disc":{{{d}}}}}}}"#),
            format!(r#"{{"session":{{"disc":{{{d}}},{s}}}}}"#),
        ] {
            if let Verdict::Accepted { .. } = agree(body.as_bytes(), Encoding::Json) {
                accepted += 1;
            }
        }
    }
    println!("{} key cases agree ({accepted} accepted)", disc.len() * 2);
    assert!(accepted >= 10, "{accepted}");
}
