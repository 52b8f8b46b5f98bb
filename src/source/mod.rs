//! Sources: bytes in. `decode` (pure) turns bytes into typed records or rejections; `kafka`
//! consumes topics as a group member; `file` reads JSONL files or stdin for replay.

pub mod decode;
pub mod file;
pub mod kafka;
