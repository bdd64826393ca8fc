//! Folders of songs: finding the mp3 files below a folder ([`dir`]), and the catalog on disk that
//! `jukebox-segmenter` writes and a server reads: reading a source file and its content hash
//! ([`source`]), song folders ([`song_dir`]) and their segment files ([`files`]), the index
//! ([`index`], which a server reads) and writing a catalog ([`write`](mod@write)). Layout in docs/CATALOG.md.

pub mod dir;
pub mod files;
pub mod index;
pub mod read;
pub mod song_dir;
pub mod source;
pub mod write;
