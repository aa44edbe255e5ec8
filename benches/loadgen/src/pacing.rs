//! A player's clock: when a segment is due, when it is worth asking for,
//! and whether it came in time.
//!
//! Times are seconds since the viewer asked for the master playlist. The
//! playhead starts moving `initial_buffer_s` (wall time) after the first
//! segment is complete, so segment `i` is due at
//! `startup + initial_buffer + Σ(durations of segments before i) / speed`.
//! A segment that completes after its deadline is a **stall**: the picture
//! froze. As in a real player the playhead waits for it, so every later
//! deadline moves back by the stall's length; one slow segment is one
//! stall, not a cascade.

/// What happened to one segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Complete before its deadline.
    OnTime,
    /// Complete (or given up on) this many seconds after its deadline.
    Stall(f64),
}

/// Playback state of one viewer.
#[derive(Debug, Clone)]
pub struct PlayerClock {
    /// When the playhead started moving.
    play_start: f64,
    /// Media seconds of the segments already complete (or given up on).
    media_s: f64,
    /// Total time the playhead waited for late segments.
    stalled_s: f64,
    /// Media seconds per wall second.
    speed: f64,
}

impl PlayerClock {
    /// A clock after the first segment (of `first_duration_s`) completed
    /// at `startup_s`.
    pub fn start(startup_s: f64, initial_buffer_s: f64, first_duration_s: f64, speed: f64) -> Self {
        PlayerClock {
            play_start: startup_s + initial_buffer_s.max(0.0),
            media_s: first_duration_s,
            stalled_s: 0.0,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// When the next segment must be complete for playback not to stop.
    pub fn deadline(&self) -> f64 {
        self.play_start + self.stalled_s + self.media_s / self.speed
    }

    /// When to ask for the next segment: as soon as the buffer ahead of
    /// the playhead holds less than `max_buffer_s` of media.
    pub fn request_at(&self, max_buffer_s: f64) -> f64 {
        self.deadline() - max_buffer_s.max(0.0) / self.speed
    }

    /// Records the next segment (of `duration_s`) as complete at `at`.
    /// A failed segment is recorded the same way at the moment it is
    /// given up on: the player skips it, after waiting if it was late.
    pub fn complete(&mut self, at: f64, duration_s: f64) -> Arrival {
        let late = at - self.deadline();
        self.media_s += duration_s;
        if late > 0.0 {
            self.stalled_s += late;
            Arrival::Stall(late)
        } else {
            Arrival::OnTime
        }
    }

    /// Total seconds the playhead waited.
    pub fn stalled_s(&self) -> f64 {
        self.stalled_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_media_durations() {
        // First segment done at 0.5 s, 1 s initial buffer, 4 s segments.
        let mut c = PlayerClock::start(0.5, 1.0, 4.0, 1.0);
        assert_eq!(c.deadline(), 5.5);
        assert_eq!(c.request_at(8.0), -2.5);
        assert_eq!(c.complete(0.7, 4.0), Arrival::OnTime);
        assert_eq!(c.deadline(), 9.5);
        assert_eq!(c.request_at(8.0), 1.5);
        assert_eq!(c.complete(9.5, 4.0), Arrival::OnTime);
        assert_eq!(c.stalled_s(), 0.0);
    }

    #[test]
    fn speed_up_shortens_the_wall_time() {
        let c = PlayerClock::start(0.0, 0.0, 4.0, 4.0);
        assert_eq!(c.deadline(), 1.0);
        assert_eq!(c.request_at(4.0), 0.0);
        // Nonsense speeds fall back to real time instead of dividing by 0.
        assert_eq!(PlayerClock::start(0.0, 0.0, 4.0, 0.0).deadline(), 4.0);
        assert_eq!(PlayerClock::start(0.0, 0.0, 4.0, f64::NAN).deadline(), 4.0);
    }

    #[test]
    fn a_stall_moves_later_deadlines_back() {
        let mut c = PlayerClock::start(0.0, 0.0, 2.0, 1.0);
        // Due at 2.0, arrives at 3.5: one stall of 1.5 s.
        assert_eq!(c.complete(3.5, 2.0), Arrival::Stall(1.5));
        assert_eq!(c.stalled_s(), 1.5);
        // The playhead waited, so the next one is due at 2 + 1.5 + 2.
        assert_eq!(c.deadline(), 5.5);
        assert_eq!(c.complete(5.0, 2.0), Arrival::OnTime);
        assert!(matches!(c.complete(7.6, 2.0), Arrival::Stall(s) if (s - 0.1).abs() < 1e-9));
    }
}
