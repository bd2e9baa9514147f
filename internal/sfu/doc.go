// Package sfu is the built-in video provider: media runs on a WebRTC
// selective forwarding unit (pion/webrtc v4) inside the teleconsult binary
// (VIDEO_PROVIDER=builtin, the default).
//
// # Rooms and the rules
//
// A built-in room needs nothing made ahead of time: [Provider.CreateRoom]
// returns an id, and the room comes to life in memory when its first
// participant connects. A room is keyed by teleconsultation id and room id,
// so a room remade by a change (new id, new revision) never mixes with the
// old one. The provider holds no rule of its own: it asks the domain.
//
//   - Every connect and reconnect is admitted by [teleconsult.Service.Admit]
//     (token, window, revocation, room revision); refusals end the socket
//     with 4401, 4403 or 4410 and a reason (docs/signalling.md).
//   - Every RecheckInterval (1 s) each participant is checked again with
//     [teleconsult.Service.Recheck], so a revocation made through another
//     replica ends their connection within 2 s; [Provider.DeleteRoom] ends
//     the room's connections at once. A Recheck refusal that comes from the
//     store being unreachable (the room's teleconsultation cannot be read)
//     ejects nobody.
//   - A limited window warns everyone [teleconsult.WarnBeforeEnd] before its
//     end and ejects everyone at its end. Every rule's time comes from
//     Config.Now and the checks run on Config.Ticks, which tests drive.
//   - Tools are enforced here: without screen_sharing no screen transceiver
//     is offered, so nothing can be sent for it; without chat nothing is
//     relayed and the sender gets an error; present needs
//     present_to_everyone. Chat and present carry the connection's own
//     participant id, never one given by the page. The whiteboard's
//     operations need whiteboard (or live_edit over an opened file, which
//     only live_edit opens) and the live pointer needs live_pointer; both
//     are rate-limited, and the board, kept in the room for the call and
//     bounded, is sent to whoever enters (board.go).
//   - A room takes at most Admission.Expected participants; a second
//     connection of the same participant replaces the first (end replaced).
//   - A participant whose socket drops stays for Config.Grace (5 s) before
//     counting as gone. When someone goes (leave, grace over, ejected) and
//     [teleconsult.Settings.CallEndsWhenLeaving] holds for those remaining,
//     the call ends for everyone (the LIVE rule); they may come back while
//     the window is open, which starts a new call.
//   - [teleconsult.Service.CallStarted] is recorded when the first
//     participant joins a room with no call running, and
//     [teleconsult.Service.CallEnded] when the last goes or the call ends;
//     one worker records them in order, and a conflict (already recorded)
//     is logged, not fatal.
//
// # Signalling
//
// One WebSocket per participant ([Provider.Handler], coder/websocket),
// JSON text frames of at most [MaxMessageBytes], decoded strictly: unknown
// types or fields (a field naming a room included), duplicate keys, wrong
// types are answered with an error message; more than 10 close the socket
// (1008), as does a frame over the limit (1009, after an error message).
// Messages are rate-limited per connection. The server always offers, one
// offer at a time: the page answers, and tracks coming and going trigger a
// new offer once the answer to the previous one is in. Every answer is
// checked against its offer: same media sections, and no section where the
// page would send on a transceiver the server only sends on.
//
// # Media
//
// Each participant's peer connection has, first, receiving transceivers for
// the microphone, the camera and (with screen_sharing) the screen; then one
// sending transceiver per track of the others. Each published track is read
// once and written to a [webrtc.TrackLocalStaticRTP] bound to every
// subscriber, which rewrites SSRC and payload type per subscriber. RTP
// header extensions are dropped when forwarding: their ids and values (MID,
// transport-wide sequence numbers) belong to the publisher's connection.
//
// Simulcast (simulcast.go): the camera's section of every offer asks for up
// to three encodings (RTP stream ids q, h, f; RFC 8851, RFC 8853), which the
// page scales to ¼, ½ and the full resolution. pion keeps its own offer as
// the local description; the lines are added to the copy sent, and pion
// reads the layers the answer names. A simulcast track is published once;
// each layer is read by its own goroutine and each subscriber has a local
// track of its own, fed by the layer chosen for it: by its downlink
// estimate (bwe.go), switching on a keyframe (asked with PLI of that
// layer), with sequence numbers and timestamps continued. Without an
// estimate a subscriber gets the largest layer; when none fits, its video
// pauses and audio goes on. A publisher without simulcast is sent, every
// second, a REMB of the smallest estimate of its subscribers.
//
// Feedback, through pion's default interceptors but its stats interceptor
// (the SFU does not call GetStats; see newAPI):
//
//   - Generic NACK (RFC 4585 section 6.2.1): the SFU asks publishers to
//     retransmit what it lost, and answers subscribers' NACKs from a buffer
//     of the last 64 packets sent per video track (about 0.4 s at
//     1.5 Mbps); retransmission is on the original SSRC (RTX, RFC 4588, is
//     not negotiated). A connection's NACKs past 400 requested packets a
//     second are dropped before the responder (nacklimit.go).
//   - PLI (RFC 4585 section 6.3.1) and FIR (RFC 5104 section 4.3.1) from a
//     subscriber are forwarded to the publisher of the track, and the SFU
//     sends a PLI itself when a subscriber starts receiving a video track,
//     so that it decodes at once; requests within 200 ms are merged.
//   - Transport-wide congestion control feedback
//     (draft-holmer-rmcat-transport-wide-cc-extensions-01): the SFU sends
//     TWCC feedback for what it receives, so the browsers' send-side
//     bandwidth estimation (GCC) adapts their bitrate to the uplink.
//   - RTCP sender and receiver reports (RFC 3550).
//   - REMB (draft-alvestrand-rmcat-remb-03) from subscribers is their
//     downlink estimate (capped at 100 Mbit/s, forgotten after 10 s);
//     the SFU sends REMB to publishers without simulcast. The SFU does not
//     estimate downlinks itself from transport-wide feedback (it does not
//     number the packets it sends).
//
// # Network
//
// ICE restarts (RFC 8445 section 2.4) are offered when the page asks
// (restart-ice: it saw media stall or its ICE disconnect) or the server's
// ICE disconnects: a new offer with new credentials, the session and the
// socket kept, at most one every 2 s.
//
// ICE runs on ephemeral UDP ports (optionally within a range) or on one UDP
// port for every call (pion's UDP mux, Config.UDPPort). Config.PublicIP
// replaces the host address in candidates (1:1 NAT). STUN and TURN servers
// from the configuration are given to the page; an embedded TURN server
// (pion/turn, RFC 8656) can run too, with credentials derived per session
// as in the TURN REST API (username "expiry:participantId", password
// base64 HMAC-SHA1 of the username), relaying only to this host's own
// addresses. Config.LoopbackCandidates offers loopback candidates and
// restricts ICE to loopback interfaces, so that browsers on a host without
// a network (tests) can call.
//
// Logs carry ids (teleconsultation, room, participant, connection) and
// reasons, never names, tokens or chat text.
//
// # Metrics
//
// [Provider.Collector] is the provider's Prometheus collector: calls,
// participants and tracks read from the rooms at scrape time; RTP packets
// and bytes in and out, counted per stream by an interceptor next to the
// transport (retransmissions included); losses from the receiver reports
// both ways; NACK, PLI and FIR both ways; refusals, disconnects,
// ejections and reconnects by reason; and the duration of participants'
// connections. Labels never name a room or a person.
package sfu
