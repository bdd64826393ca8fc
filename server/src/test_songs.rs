//! Songs built by hand for unit tests, with manifests whose hashes match their segments.

use bytes::Bytes;
use jukebox_segmenter::Song;

/// A song with the given ID and segment contents, without an artist: the test kit's song, whose
/// artist the listing tests here set themselves.
pub fn song(id: u64, segments: &[&[u8]]) -> Song {
    let segments = segments.iter().map(|s| Bytes::copy_from_slice(s)).collect();
    let mut song = jukebox_test_kit::song(id, segments);
    song.manifest.artist.clear();
    song
}

/// A song of a catalog on disk with segments of the given sizes, in a folder that need not exist:
/// the session never reads, it asks its shell to.
pub fn on_disk(id: u64, sizes: &[u32]) -> Song {
    let contents: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0; n as usize]).collect();
    let slices: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let mut s = song(id, &slices);
    s.segments.clear();
    s.files = Some(jukebox_segmenter::SegmentFiles::new(
        format!("/nonexistent/catalog/{id}").into(),
        sizes.to_vec(),
    ));
    s
}
