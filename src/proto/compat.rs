//! Hand-written protojson for the two types whose JSON names differ between the producer
//! generations in the field. pbjson cannot express aliases, so these accept the old names too
//! and always emit the newest ones.

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::telemetry::v1::{DiscPossessionChanged, Role};

impl Role {
    /// The first producer generation's names for the same numbers.
    fn from_legacy_name(name: &str) -> Option<Self> {
        Some(match name {
            "BLUE_TEAM" => Role::BlueTeam,
            "ORANGE_TEAM" => Role::OrangeTeam,
            "SPECTATOR" => Role::Spectator,
            "SOCIAL_PARTICIPANT" => Role::SocialParticipant,
            "MODERATOR" => Role::Moderator,
            _ => return None,
        })
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str_name())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RoleVisitor;
        impl Visitor<'_> for RoleVisitor {
            type Value = Role;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Role name (ROLE_BLUE_TEAM or BLUE_TEAM style) or number")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Role, E> {
                Role::from_str_name(v)
                    .or_else(|| Role::from_legacy_name(v))
                    .ok_or_else(|| E::unknown_variant(v, &["ROLE_UNSPECIFIED", "ROLE_BLUE_TEAM"]))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Role, E> {
                i32::try_from(v)
                    .ok()
                    .and_then(|v| Role::try_from(v).ok())
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(v), &self))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Role, E> {
                i64::try_from(v)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
                    .and_then(|v| self.visit_i64(v))
            }
        }
        deserializer.deserialize_any(RoleVisitor)
    }
}

impl Serialize for DiscPossessionChanged {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = usize::from(self.player_slot != 0) + usize::from(self.previous_player_slot != 0);
        let mut s = serializer.serialize_struct("telemetry.v1.DiscPossessionChanged", len)?;
        if self.player_slot != 0 {
            s.serialize_field("playerSlot", &self.player_slot)?;
        }
        if self.previous_player_slot != 0 {
            s.serialize_field("previousPlayerSlot", &self.previous_player_slot)?;
        }
        s.end()
    }
}

impl<'de> Deserialize<'de> for DiscPossessionChanged {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const FIELDS: &[&str] = &[
            "playerSlot",
            "player_slot",
            "previousPlayerSlot",
            "previous_player_slot",
            "previousSlot",
            "previous_slot",
        ];

        struct MsgVisitor;
        impl<'de> Visitor<'de> for MsgVisitor {
            type Value = DiscPossessionChanged;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("struct telemetry.v1.DiscPossessionChanged")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut player_slot = None;
                let mut previous = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "playerSlot" | "player_slot" => &mut player_slot,
                        "previousPlayerSlot"
                        | "previous_player_slot"
                        | "previousSlot"
                        | "previous_slot" => &mut previous,
                        _ => {
                            map.next_value::<super::unknown::Counted>()?;
                            continue;
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    // `null` is refused, as for every other number field (the generated
                    // deserializers and the transcoder do): this one accepted it, and the
                    // differential test's random mutations found the difference.
                    let value: super::number::NumberDeserialize<i32> = map.next_value()?;
                    *slot = Some(value.0);
                }
                Ok(DiscPossessionChanged {
                    player_slot: player_slot.unwrap_or_default(),
                    previous_player_slot: previous.unwrap_or_default(),
                })
            }
        }
        deserializer.deserialize_struct("telemetry.v1.DiscPossessionChanged", FIELDS, MsgVisitor)
    }
}
