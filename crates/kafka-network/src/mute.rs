//! The mute state of a server channel, as Kafka's `ChannelMuteState`.
//!
//! A channel is muted when a complete request has been read from it, so no second request is
//! read before the first is answered: that is what keeps responses in request order on one
//! connection. Throttling (quotas) can keep it muted after the response is sent. The state
//! machine is pure: the Processor feeds it events and asks whether the channel may be unmuted.

/// Where a channel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelMuteState {
    /// Reading requests.
    #[default]
    NotMuted,
    /// Muted, nothing outstanding: may be unmuted.
    Muted,
    /// Muted with a request being handled.
    MutedAndResponsePending,
    /// Muted by a throttle after the response was sent.
    MutedAndThrottled,
    /// Muted by a throttle with the response still pending.
    MutedAndThrottledAndResponsePending,
}

/// What happened to the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMuteEvent {
    /// A complete request was read (the channel was muted first).
    RequestReceived,
    /// The response was written.
    ResponseSent,
    /// A quota throttle started.
    ThrottleStarted,
    /// The throttle ended.
    ThrottleEnded,
}

impl ChannelMuteState {
    /// Mutes a channel that is not muted.
    pub fn mute(&mut self) {
        if *self == ChannelMuteState::NotMuted {
            *self = ChannelMuteState::Muted;
        }
    }

    /// Applies an event. Events that do not apply in the current state leave it unchanged and
    /// return false, so a Processor can log a broken invariant instead of panicking.
    pub fn handle(&mut self, event: ChannelMuteEvent) -> bool {
        use ChannelMuteEvent::*;
        use ChannelMuteState::*;
        let next = match (*self, event) {
            (Muted, RequestReceived) => MutedAndResponsePending,
            (MutedAndResponsePending, ResponseSent) => Muted,
            (MutedAndThrottledAndResponsePending, ResponseSent) => MutedAndThrottled,
            (MutedAndResponsePending, ThrottleStarted) => MutedAndThrottledAndResponsePending,
            (MutedAndThrottled, ThrottleEnded) => Muted,
            (MutedAndThrottledAndResponsePending, ThrottleEnded) => MutedAndResponsePending,
            _ => return false,
        };
        *self = next;
        true
    }

    /// Unmutes if nothing holds the channel; returns whether it is now unmuted.
    pub fn maybe_unmute(&mut self) -> bool {
        if *self == ChannelMuteState::Muted {
            *self = ChannelMuteState::NotMuted;
        }
        *self == ChannelMuteState::NotMuted
    }

    /// Whether the channel is muted.
    pub fn is_muted(&self) -> bool {
        *self != ChannelMuteState::NotMuted
    }
}

#[cfg(test)]
mod tests {
    use super::ChannelMuteEvent::*;
    use super::ChannelMuteState::*;
    use super::*;

    #[test]
    fn request_response_cycle() {
        let mut s = ChannelMuteState::default();
        s.mute();
        assert!(s.handle(RequestReceived));
        assert_eq!(s, MutedAndResponsePending);
        assert!(!s.maybe_unmute(), "response pending keeps it muted");
        assert!(s.handle(ResponseSent));
        assert!(s.maybe_unmute());
        assert_eq!(s, NotMuted);
    }

    #[test]
    fn throttle_outlives_the_response() {
        let mut s = ChannelMuteState::default();
        s.mute();
        s.handle(RequestReceived);
        assert!(s.handle(ThrottleStarted));
        assert!(s.handle(ResponseSent));
        assert_eq!(s, MutedAndThrottled);
        assert!(!s.maybe_unmute());
        assert!(s.handle(ThrottleEnded));
        assert!(s.maybe_unmute());
    }

    #[test]
    fn throttle_ends_before_the_response() {
        let mut s = ChannelMuteState::default();
        s.mute();
        s.handle(RequestReceived);
        s.handle(ThrottleStarted);
        assert!(s.handle(ThrottleEnded));
        assert_eq!(s, MutedAndResponsePending);
        assert!(s.handle(ResponseSent));
        assert!(s.maybe_unmute());
    }

    #[test]
    fn events_out_of_place_are_refused() {
        let mut s = ChannelMuteState::default();
        assert!(!s.handle(ResponseSent));
        assert!(
            !s.handle(RequestReceived),
            "a request on an unmuted channel is a caller bug"
        );
        assert_eq!(s, NotMuted);
    }
}
