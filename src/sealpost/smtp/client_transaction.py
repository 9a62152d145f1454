"""One mail transaction on the client side: what to send next and who got which reply.

RFC 5321 section 3.3: MAIL, then one RCPT per recipient, then DATA once at least one
recipient was accepted; the reply after the final dot applies to every accepted recipient.
RFC 2920 section 3.1: with PIPELINING all commands go out at once and every reply is
checked; when DATA gets ``354`` although no recipient was accepted, only the final dot is
sent. A transaction the server may still hold open (MAIL accepted, message not finished)
is closed with RSET (section 4.1.1.5). RFC 5321 section 4.5.3.2.6 / RFC 1047: when the dot
went out and no reply came, the message may have been delivered; the recipients are
reported with ``after_data`` so a retry is counted as a possible duplicate (checklist K7).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sealpost.model.reply import Reply
from sealpost.smtp.client_encoding import address_problem, mail_from, rcpt_to
from sealpost.smtp.client_events import OutgoingMail, RecipientReply, Step, TransactionResult

RSET = b"RSET\r\n"


@dataclass(frozen=True, slots=True)
class Pending:
    """A command whose reply is still to come."""

    step: Step
    index: int = -1  # the recipient of a RCPT


@dataclass(slots=True)
class TransactionState:
    mail: OutgoingMail
    wire: bytes  # the DATA payload, stuffed and terminated
    plan: deque[tuple[Pending, bytes]] = field(default_factory=deque)  # without PIPELINING
    refused: dict[int, Reply] = field(default_factory=dict)  # refused here, never sent
    mail_reply: Reply | None = None
    rcpt: dict[int, Reply] = field(default_factory=dict)
    data_reply: Reply | None = None
    final: Reply | None = None
    data_sent: bool = False
    dot_only: bool = False  # 354 with no accepted recipient: only "." was sent
    rset_sent: bool = False

    @property
    def mail_ok(self) -> bool:
        return self.mail_reply is not None and self.mail_reply.is_positive

    @property
    def accepted(self) -> bool:
        return any(reply.is_positive for reply in self.rcpt.values())

    def commands(
        self, refusal: Reply | None, params: list[str], *, reset_first: bool
    ) -> list[tuple[Pending, bytes]]:
        """Every command of the transaction ([] when nothing is to be sent: the whole
        message or every recipient was refused before writing anything)."""
        recipients = self.mail.recipients
        if refusal is not None:
            self.refused = dict.fromkeys(range(len(recipients)), refusal)
            return []
        for i, address in enumerate(recipients):
            problem = address_problem(address)
            if problem is not None:
                self.refused[i] = Reply.of(553, "5.1.3", f"invalid recipient address: {problem}")
        valid = [i for i in range(len(recipients)) if i not in self.refused]
        if not valid:
            return []
        out = [(Pending(Step.RSET), RSET)] if reset_first else []
        out.append((Pending(Step.MAIL), mail_from(self.mail.mail_from, params)))
        out += [(Pending(Step.RCPT, i), rcpt_to(recipients[i])) for i in valid]
        out.append((Pending(Step.DATA), b"DATA\r\n"))
        return out

    def record(self, pending: Pending, reply: Reply) -> bytes | None:
        """Note a reply; returns the payload to write when it is the ``354`` to DATA."""
        step = pending.step
        if step is Step.MAIL:
            self.mail_reply = reply
        elif step is Step.RCPT:
            self.rcpt[pending.index] = reply
        elif step is Step.DATA:
            self.data_reply = reply
            if reply.code == 354:
                if self.accepted and self.mail_ok:
                    self.data_sent = True
                    return self.wire
                self.dot_only = True
                return b".\r\n"
        elif step is Step.MESSAGE:
            self.final = reply
        return None

    def next_command(self) -> tuple[Pending, bytes] | None:
        """Once every reply so far is in: the next planned command (none after a refused
        MAIL, no DATA without an accepted recipient), a closing RSET, or None (done)."""
        if self.plan:
            pending = self.plan[0][0]
            stop = pending.step in (Step.RCPT, Step.DATA) and not self.mail_ok
            if stop or (pending.step is Step.DATA and not self.accepted):
                self.plan.clear()
            else:
                return self.plan.popleft()
        if self.mail_ok and (self.final is None or self.dot_only) and not self.rset_sent:
            self.rset_sent = True
            return Pending(Step.RSET), RSET
        return None

    def result(self, lost: Reply) -> TransactionResult:
        """The deciding reply per recipient; ``lost`` stands in for replies that never came."""
        out = []
        finished = self.final is not None and not self.dot_only
        refused_data = self.data_reply if self.data_reply and self.data_reply.code != 354 else None
        for i, address in enumerate(self.mail.recipients):
            reply, after, unanswered = lost, False, False
            if i in self.refused:
                reply = self.refused[i]
            elif not self.mail_ok:
                reply = self.mail_reply or lost
            elif i not in self.rcpt or not self.rcpt[i].is_positive:
                reply = self.rcpt.get(i, lost)
            elif finished and self.final is not None:
                reply, after = self.final, True
            elif refused_data is not None:
                reply = refused_data
            else:
                after = unanswered = self.data_sent  # the dot went unanswered: maybe delivered
            out.append(RecipientReply(address, reply, after, unanswered))
        data = self.final if finished else refused_data
        return TransactionResult(tuple(out), self.mail_reply, data, self.data_sent)
