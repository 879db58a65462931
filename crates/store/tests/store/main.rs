//! belfry-store tests: the shared suite on both stores, then what only the
//! SQLCipher store must show (wrong key, no plaintext at rest, keychain).

mod crash;
mod debug;
mod freed_memory;
mod passphrase;
mod scan;
mod sqlcipher;

belfry_store::store_test_suite!(memory, belfry_store::testing::Memory::default());
belfry_store::store_test_suite!(sql, belfry_store::testing::Sql::new());
