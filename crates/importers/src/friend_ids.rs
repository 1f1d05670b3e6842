//! Friend ids as they are gathered from a network: in the network's order, each once, bounded.

use std::collections::HashSet;

use amity_domain::social::{Network, NetworkError};

/// The longest id accepted from a network (Facebook and Steam ids are under 20 digits).
const MAX_ID_LEN: usize = 64;

/// Friend ids in the order the network listed them, duplicates folded, at most `max` of them.
pub(crate) struct FriendIds {
    network: Network,
    max: usize,
    ids: Vec<String>,
    seen: HashSet<String>,
}

impl FriendIds {
    pub(crate) fn new(network: Network, max: usize) -> Self {
        FriendIds {
            network,
            max,
            ids: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Adds an id unless it is already there. An id that is empty or too long means the answer
    /// is not the documented format; one id past the maximum means the list is too long to
    /// import.
    pub(crate) fn push(&mut self, id: String) -> Result<(), NetworkError> {
        let network = self.network;
        if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
            return Err(NetworkError::Unavailable(format!(
                "{network} listed a friend without a valid id"
            )));
        }
        if self.seen.contains(&id) {
            return Ok(());
        }
        if self.ids.len() >= self.max {
            return Err(NetworkError::Unavailable(format!(
                "{network} listed more than {} friends, more than one import takes",
                self.max
            )));
        }
        self.seen.insert(id.clone());
        self.ids.push(id);
        Ok(())
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_fold_and_order_is_kept() -> Result<(), NetworkError> {
        let mut ids = FriendIds::new(Network::Steam, 2);
        for id in ["2", "1", "2"] {
            ids.push(id.to_owned())?;
        }
        assert!(matches!(
            ids.push("3".to_owned()),
            Err(NetworkError::Unavailable(_))
        ));
        assert!(ids.push(String::new()).is_err());
        assert_eq!(ids.into_vec(), ["2", "1"]);
        Ok(())
    }
}
