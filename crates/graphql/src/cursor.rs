//! Opaque, tamper-evident page cursors.
//!
//! A cursor is `base64url(kind || payload || tag)`, where `tag` is the first 16 bytes of
//! HMAC-SHA256 over `kind || payload` with a key derived from the server secret. A client can
//! keep a cursor and send it back later; one that was altered, truncated, made by another
//! server secret or meant for another listing is refused with BAD_USER_INPUT.

use amity_domain::friends::{FriendPosition, FriendState};
use amity_domain::time::{from_micros, to_micros};
use amity_domain::{MessageId, ModerationEntryId, NotificationId, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;

const TAG_LEN: usize = 16;
const KIND_FRIENDS: u8 = 1;
const KIND_NOTIFICATIONS: u8 = 2;
const KIND_MESSAGES: u8 = 3;
const KIND_MODERATION: u8 = 4;

/// Signs and checks cursors.
#[derive(Clone)]
pub struct CursorCodec {
    key: [u8; 32],
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec")
    }
}

impl CursorCodec {
    /// A codec whose key is derived from the server secret (so that all nodes sharing the
    /// secret accept each other's cursors).
    pub fn new(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"amity cursor key v1\0");
        hasher.update(secret);
        Self {
            key: hasher.finalize().into(),
        }
    }

    fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return [0; TAG_LEN],
        };
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    fn seal(&self, kind: u8, payload: &[u8]) -> String {
        let mut data = Vec::with_capacity(1 + payload.len() + TAG_LEN);
        data.push(kind);
        data.extend_from_slice(payload);
        let tag = self.tag(&data);
        data.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(data)
    }

    fn open(
        &self,
        field: &'static str,
        kind: u8,
        cursor: &str,
        payload_len: usize,
    ) -> Result<Vec<u8>, ApiError> {
        let invalid = || {
            ApiError::bad_input(
                field,
                "the cursor is invalid; use a cursor this listing returned",
            )
        };
        let data = URL_SAFE_NO_PAD
            .decode(cursor.trim())
            .map_err(|_| invalid())?;
        if data.len() != 1 + payload_len + TAG_LEN || data[0] != kind {
            return Err(invalid());
        }
        let (body, tag) = data.split_at(1 + payload_len);
        // Compare in constant time.
        let expected = self.tag(body);
        if tag
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return Err(invalid());
        }
        Ok(body[1..].to_vec())
    }

    /// The cursor of a position in a friends listing.
    pub fn friend(&self, position: &FriendPosition) -> String {
        let mut payload = Vec::with_capacity(25);
        payload.push(position.state.rank() as u8);
        payload.extend_from_slice(&to_micros(position.updated_at).to_be_bytes());
        payload.extend_from_slice(position.other.as_uuid().as_bytes());
        self.seal(KIND_FRIENDS, &payload)
    }

    /// Reads a friends cursor.
    pub fn parse_friend(&self, cursor: &str) -> Result<FriendPosition, ApiError> {
        let p = self.open("after", KIND_FRIENDS, cursor, 25)?;
        let invalid = || ApiError::bad_input("after", "the cursor is invalid");
        let state = FriendState::from_rank(i16::from(p[0])).ok_or_else(invalid)?;
        let micros = i64::from_be_bytes(p[1..9].try_into().map_err(|_| invalid())?);
        let id = Uuid::from_slice(&p[9..25]).map_err(|_| invalid())?;
        Ok(FriendPosition {
            state,
            updated_at: from_micros(micros),
            other: UserId::from_uuid(id),
        })
    }

    /// The cursor of a notification.
    pub fn notification(&self, id: NotificationId) -> String {
        self.seal(KIND_NOTIFICATIONS, id.as_uuid().as_bytes())
    }

    /// Reads a notifications cursor.
    pub fn parse_notification(&self, cursor: &str) -> Result<NotificationId, ApiError> {
        let p = self.open("after", KIND_NOTIFICATIONS, cursor, 16)?;
        let id = Uuid::from_slice(&p)
            .map_err(|_| ApiError::bad_input("after", "the cursor is invalid"))?;
        Ok(NotificationId::from_uuid(id))
    }

    /// The cursor of a direct message in a conversation.
    pub fn message(&self, id: MessageId) -> String {
        self.seal(KIND_MESSAGES, id.as_uuid().as_bytes())
    }

    /// Reads a direct-messages cursor (passed as `before`).
    pub fn parse_message(&self, cursor: &str) -> Result<MessageId, ApiError> {
        let p = self.open("before", KIND_MESSAGES, cursor, 16)?;
        let id = Uuid::from_slice(&p)
            .map_err(|_| ApiError::bad_input("before", "the cursor is invalid"))?;
        Ok(MessageId::from_uuid(id))
    }

    /// The cursor of a moderation log entry.
    pub fn moderation(&self, id: ModerationEntryId) -> String {
        self.seal(KIND_MODERATION, id.as_uuid().as_bytes())
    }

    /// Reads a moderation log cursor (passed as `after`: older entries follow).
    pub fn parse_moderation(&self, cursor: &str) -> Result<ModerationEntryId, ApiError> {
        let p = self.open("after", KIND_MODERATION, cursor, 16)?;
        let id = Uuid::from_slice(&p)
            .map_err(|_| ApiError::bad_input("after", "the cursor is invalid"))?;
        Ok(ModerationEntryId::from_uuid(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amity_domain::time::{Clock, SystemClock};

    fn position() -> FriendPosition {
        FriendPosition {
            state: FriendState::InviteReceived,
            updated_at: SystemClock.now(),
            other: UserId::new(),
        }
    }

    #[test]
    fn round_trips() {
        let codec = CursorCodec::new(b"secret");
        let p = position();
        assert_eq!(codec.parse_friend(&codec.friend(&p)).unwrap(), p);
        let id = NotificationId::new();
        assert_eq!(
            codec.parse_notification(&codec.notification(id)).unwrap(),
            id
        );
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let codec = CursorCodec::new(b"secret");
        let cursor = codec.friend(&position());
        let raw = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut bad = raw.clone();
                bad[i] ^= 1 << bit;
                let err = codec
                    .parse_friend(&URL_SAFE_NO_PAD.encode(&bad))
                    .unwrap_err();
                assert_eq!(err.code().as_deref(), Some("BAD_USER_INPUT"));
            }
        }
    }

    #[test]
    fn garbage_other_kinds_and_other_secrets_are_refused() {
        let codec = CursorCodec::new(b"secret");
        for bad in ["", "x", "!!!!", "AAAA", &"A".repeat(500)] {
            assert!(codec.parse_friend(bad).is_err(), "{bad}");
            assert!(codec.parse_notification(bad).is_err(), "{bad}");
        }
        let n = codec.notification(NotificationId::new());
        assert!(codec.parse_friend(&n).is_err());
        let f = codec.friend(&position());
        assert!(codec.parse_notification(&f).is_err());
        let other = CursorCodec::new(b"other secret");
        assert!(other.parse_friend(&f).is_err());
    }
}
