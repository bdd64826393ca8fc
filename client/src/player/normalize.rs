//! Loudness normalisation: the gain that plays a song at a common loudness, from the loudness and
//! true peak its manifest gives (measured by the server's segmenter, EBU R128).
//!
//! Track mode plays every song at [`TARGET_LUFS`], as the large streaming services do, but never
//! lets a peak exceed [`PEAK_CEILING_DBTP`]: a quiet song with loud peaks is raised only as far as
//! its peaks allow, never clipped. The values come from the server, so the gain is bounded
//! whatever they are: at most [`MAX_BOOST_DB`], and no boost at all for a song whose peak is not
//! known. A song without a loudness plays unchanged.

use std::fmt;
use std::str::FromStr;

use jukebox_protocol::Manifest;

/// The loudness songs are played at in track mode, LUFS.
pub const TARGET_LUFS: f64 = -14.0;

/// No true peak goes above this after the gain, dBTP (what streaming services keep as headroom
/// for lossy codecs and cheap converters).
pub const PEAK_CEILING_DBTP: f64 = -1.0;

/// The most a song is raised, dB: a very quiet recording is mostly noise, and a server's values
/// must not be able to make the client play 50 dB louder.
pub const MAX_BOOST_DB: f64 = 12.0;

/// The most a song is lowered, dB (the manifest's range keeps it within -34 dB anyway).
pub const MAX_CUT_DB: f64 = 40.0;

/// What `--normalize` and the `normalize` command choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Normalize {
    /// Songs play as they are.
    Off,
    /// Every song at -14 LUFS, peaks kept below -1 dBTP.
    #[default]
    Track,
}

impl Normalize {
    /// The gain for the song of `manifest`, in dB; `None` when it plays unchanged (off, or a song
    /// without a known loudness).
    pub fn gain_db(self, manifest: &Manifest) -> Option<f64> {
        match self {
            Normalize::Off => None,
            Normalize::Track => track_gain_db(manifest.loudness_lufs, manifest.true_peak_dbtp),
        }
    }

    /// The linear factor samples are multiplied by (1 for none).
    pub fn gain(self, manifest: &Manifest) -> f32 {
        self.gain_db(manifest).map_or(1.0, linear)
    }
}

/// The gain that brings a song of `loudness` to [`TARGET_LUFS`], lowered so that `peak` plus the
/// gain stays at or below [`PEAK_CEILING_DBTP`] (without a peak, lowered to 0 dB at most), within
/// [-[`MAX_CUT_DB`], [`MAX_BOOST_DB`]]. `None` without a loudness, or for values that are not
/// numbers.
pub fn track_gain_db(loudness: Option<f64>, peak: Option<f64>) -> Option<f64> {
    let loudness = loudness.filter(|l| l.is_finite())?;
    let headroom = match peak {
        Some(peak) if peak.is_finite() => PEAK_CEILING_DBTP - peak,
        Some(_) => return None,
        None => 0.0,
    };
    let gain = (TARGET_LUFS - loudness).min(headroom);
    Some(gain.clamp(-MAX_CUT_DB, MAX_BOOST_DB))
}

/// dB as a factor of amplitude.
pub fn linear(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

impl FromStr for Normalize {
    type Err = String;

    fn from_str(s: &str) -> Result<Normalize, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(Normalize::Off),
            "track" => Ok(Normalize::Track),
            _ => Err(format!("normalize takes off or track, not {s:?}")),
        }
    }
}

impl fmt::Display for Normalize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Normalize::Off => "off",
            Normalize::Track => "track",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|g| (g - want).abs() < 1e-9)
    }

    #[test]
    fn the_gain_reaches_the_target_unless_the_peak_or_the_bound_stops_it() {
        // Loud and peaky: lowered to the target.
        assert!(close(track_gain_db(Some(-6.0), Some(0.5)), -8.0));
        // Quiet with headroom: raised to the target.
        assert!(close(track_gain_db(Some(-20.0), Some(-12.0)), 6.0));
        // Quiet but with peaks near full scale: raised only until the peak reaches -1 dBTP.
        assert!(close(track_gain_db(Some(-24.0), Some(-4.0)), 3.0));
        // A peak already above the ceiling lowers even a quiet song.
        assert!(close(track_gain_db(Some(-20.0), Some(1.0)), -2.0));
        // Very quiet: at most +12 dB.
        assert!(close(track_gain_db(Some(-60.0), Some(-50.0)), MAX_BOOST_DB));
        // No peak known: lowered if loud, never raised.
        assert!(close(track_gain_db(Some(-9.0), None), -5.0));
        assert!(close(track_gain_db(Some(-30.0), None), 0.0));
        // No loudness, or nonsense from a server: unchanged.
        assert_eq!(track_gain_db(None, Some(-3.0)), None);
        assert_eq!(track_gain_db(Some(f64::NAN), Some(-3.0)), None);
        assert_eq!(track_gain_db(Some(-20.0), Some(f64::INFINITY)), None);
        assert!(close(track_gain_db(Some(1e300), Some(1e300)), -MAX_CUT_DB));
        assert!(close(
            track_gain_db(Some(-1e300), Some(-1e300)),
            MAX_BOOST_DB
        ));
    }

    #[test]
    fn off_plays_unchanged_and_decibels_are_amplitude() {
        assert_eq!(linear(0.0), 1.0);
        assert!((linear(-20.0) - 0.1).abs() < 1e-7);
        assert!((linear(6.0) - 1.995_262_3).abs() < 1e-6);
        assert_eq!("TRACK".parse::<Normalize>(), Ok(Normalize::Track));
        assert_eq!("off".parse::<Normalize>(), Ok(Normalize::Off));
        assert!("album".parse::<Normalize>().is_err());
        assert_eq!(Normalize::default().to_string(), "track");
    }
}
