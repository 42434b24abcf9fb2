//! The glue every market module on this crate shares between its call, its error and the
//! typed state of [`crate::store`].

/// Implements, for a market module named `$name` whose calls are `$call` and errors `$error`:
///
/// - `From<StoreError> for $error`: undecodable state is `$error::Corrupt` (a bug, never a
///   property of a transaction), a storage failure is `$error::State`;
/// - `$call::into_call`: the transaction call that carries the call (borsh-encoded);
/// - `$call::decode`: the inverse, for `Module::decode_call`; a payload that does not decode is
///   `$error::Malformed`, the sender's fault.
///
/// `$error` needs the variants `Malformed(String)`, `Corrupt` and `State(StateError)`, and the
/// calling crate depends on `agora-types`.
#[macro_export]
macro_rules! market_module {
    ($name:expr, $call:ty, $error:ident) => {
        impl ::core::convert::From<$crate::StoreError> for $error {
            fn from(e: $crate::StoreError) -> Self {
                match e {
                    $crate::StoreError::Corrupt => Self::Corrupt,
                    $crate::StoreError::State(e) => Self::State(e),
                }
            }
        }

        impl $call {
            /// The [`agora_types::Call`] that carries this call.
            pub fn into_call(self) -> ::agora_types::Call {
                $crate::store::call($name, &self)
            }

            /// Decodes a call payload, as `Module::decode_call`.
            pub fn decode(payload: &[u8]) -> ::core::result::Result<Self, $error> {
                $crate::store::decode_call(payload).map_err($error::Malformed)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::StoreError;
    use agora_ledger::StateError;
    use borsh::{BorshDeserialize, BorshSerialize};

    #[derive(Debug, PartialEq, BorshSerialize, BorshDeserialize)]
    enum Call {
        Ping(u64),
    }

    #[derive(Debug)]
    enum Error {
        Malformed(String),
        Corrupt,
        State(StateError),
    }

    market_module!("demo", Call, Error);

    #[test]
    fn a_call_round_trips_and_garbage_is_malformed() {
        let call = Call::Ping(7).into_call();
        assert_eq!(call.module, "demo");
        assert_eq!(Call::decode(&call.payload).unwrap(), Call::Ping(7));
        for garbage in [&[9u8, 9][..], &[]] {
            let Err(Error::Malformed(why)) = Call::decode(garbage) else {
                panic!("{garbage:?} decoded");
            };
            assert!(!why.is_empty());
        }
    }

    #[test]
    fn store_errors_map_to_corrupt_and_state() {
        assert!(matches!(Error::from(StoreError::Corrupt), Error::Corrupt));
        let e = Error::from(StoreError::State(StateError("disk".into())));
        assert!(matches!(e, Error::State(StateError(m)) if m == "disk"));
    }
}
