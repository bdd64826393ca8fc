//! One mp3 file's analysis, in the order a file goes through it: [`tags`] (where the audio lies,
//! title, artist, album), [`scan`] (the MPEG frames, each header read by [`header`]), [`xing`]
//! (the info frame and encoder delay), [`plan`] (where segments are cut) and [`song`] (the
//! manifest); [`loudness`] decodes the segments to measure the song for the manifest's loudness
//! members. Nothing here touches the filesystem.

pub mod header;
pub mod loudness;
pub mod plan;
pub mod scan;
pub mod song;
pub mod tags;
pub mod xing;
