/*
 * farm_ckpt.c: checkpoint rounds, the fifth part of the farm (see farm_internal.h).
 *
 * With cfg.checkpoint, the leader starts a round at the end of every stage, every
 * cfg.checkpoint_ns, and when a stop signal arrives at any rank (a last round). A round: the
 * leader numbers it and tells every rank (CKPT); each live rank, itself included, writes its
 * file (io->checkpoint, off the control thread) and answers (CKPT_DONE); once every live rank
 * has answered (a rank that dies meanwhile is not waited for; none is waited for longer than
 * CKPT_TIMEOUT_NS) the leader writes the job file with the task table as it is then
 * (io->checkpointed). A table that is newer than some rank file is harmless: a resumed job
 * trusts only outputs it finds, with their checksums verified. After a last round the leader
 * ends the job with RM_FARM_STOPPED. Only one round runs at a time; a round lost with its
 * leader is not finished, and a rank whose stop signal the old leader did not act on tells the
 * next one.
 */
#include "ringmaster.h"
#include "runtime/frame.h"
#include "runtime/log.h"
#include "scheduler/farm_internal.h"

#define CKPT_TIMEOUT_NS (60000 * NS_PER_MS)

static void send_stop(struct rm_farm *f)
{
    if (f->leader >= 0 && f->leader != (int)f->cfg.rank)
        f->io.send(f->io.ctx, (uint32_t)f->leader, RM_FARM_STOP, NULL, 0);
}

void rm_farm_stop(struct rm_farm *f)
{
    if (f->ended)
        return;
    if (!f->cfg.checkpoint) {
        rm_error("stopped by a signal, without --checkpoint-dir: nothing is kept");
        rm_farm_end(f, 3);
        return;
    }
    rm_warn("stop signal: taking a last checkpoint, then stopping");
    f->stop_requested = true;
    if (f->leading)
        farm_checkpoint_start(f, true);
    else
        send_stop(f);
}

void farm_ckpt_leader(struct rm_farm *f)
{
    if (f->stop_requested)
        send_stop(f);
}

void farm_checkpoint_start(struct rm_farm *f, bool final)
{
    if (!f->cfg.checkpoint || !f->leading || f->ended || !f->tt.initialized)
        return;
    if (f->ckpt_active) {
        f->ckpt_want_final |= final;
        return;
    }
    if (!f->ckpt_acked && !(f->ckpt_acked = calloc(f->cfg.size, sizeof *f->ckpt_acked)))
        return;
    f->ckpt_seq++;
    f->ckpt_active = true;
    f->ckpt_final = final;
    f->ckpt_want_final = false;
    f->ckpt_failed = 0;
    f->ckpt_started = now(f);
    memset(f->ckpt_acked, 0, f->cfg.size * sizeof *f->ckpt_acked);
    unsigned char m[8];
    rm_put_u64(m, f->ckpt_seq);
    f->io.broadcast(f->io.ctx, RM_FARM_CKPT, m, sizeof m);
    f->io.checkpoint(f->io.ctx, f->ckpt_seq);
}

/* Every live rank has answered, or the round timed out: the job file. */
static void round_complete(struct rm_farm *f)
{
    unsigned char *table = NULL;
    size_t len = 0;
    if (rm_tasktable_encode(&f->tt, &table, &len) != 0) {
        rm_error("checkpoint %llu: out of memory", (unsigned long long)f->ckpt_seq);
        f->ckpt_active = false;
        return;
    }
    f->io.checkpointed(f->io.ctx, f->ckpt_seq, table, len);
    free(table);
}

static void check_round(struct rm_farm *f, uint64_t t)
{
    if (!f->ckpt_active || !f->ckpt_acked || f->ckpt_acked[f->cfg.rank] == 2)
        return; /* 2 on the leader: the job file is being written */
    bool all = true;
    for (uint32_t r = 0; r < f->cfg.size && all; r++)
        all = f->ckpt_acked[r] || !f->live[r];
    if (!all && t - f->ckpt_started < CKPT_TIMEOUT_NS)
        return;
    if (!all)
        rm_warn("checkpoint %llu: some ranks did not answer in %.0f s; their outputs are "
                "recomputed on resume",
                (unsigned long long)f->ckpt_seq, (double)CKPT_TIMEOUT_NS / 1e9);
    f->ckpt_acked[f->cfg.rank] = 2;
    round_complete(f);
}

void rm_farm_checkpoint_written(struct rm_farm *f, uint64_t seq, int rc)
{
    if (f->ended)
        return;
    if (f->leading) {
        if (seq == f->ckpt_seq && f->ckpt_active && f->ckpt_acked && !f->ckpt_acked[f->cfg.rank]) {
            f->ckpt_acked[f->cfg.rank] = 1;
            f->ckpt_failed += rc != 0;
            check_round(f, now(f));
        }
        return;
    }
    if (f->leader < 0)
        return;
    unsigned char m[12];
    rm_put_u64(m, seq);
    rm_put_u32(m + 8, (uint32_t)rc);
    f->io.send(f->io.ctx, (uint32_t)f->leader, RM_FARM_CKPT_DONE, m, sizeof m);
}

void rm_farm_job_written(struct rm_farm *f, uint64_t seq, int rc)
{
    if (!f->ckpt_active || seq != f->ckpt_seq || f->ended)
        return;
    f->ckpt_active = false;
    f->ckpt_last = now(f);
    if (rc == 0)
        rm_info("checkpoint %llu written (%u ranks failed to write theirs)",
                (unsigned long long)seq, f->ckpt_failed);
    else
        rm_error("checkpoint %llu: the job file could not be written: %s", (unsigned long long)seq,
                 rm_strerror(rc));
    if (f->ckpt_final) {
        rm_warn("stopped after a last checkpoint; run again with --resume to finish");
        rm_farm_end(f, rc == 0 ? RM_FARM_STOPPED : 3);
        return;
    }
    if (f->ckpt_want_final)
        farm_checkpoint_start(f, true);
}

void farm_ckpt_tick(struct rm_farm *f, uint64_t t)
{
    if (!f->cfg.checkpoint || !f->leading || f->ended || !f->tt.initialized)
        return;
    check_round(f, t);
    if (!f->ckpt_active && f->cfg.checkpoint_ns && !f->finished &&
        t - (f->ckpt_last ? f->ckpt_last : f->t_lead) >= f->cfg.checkpoint_ns)
        farm_checkpoint_start(f, false);
}

int farm_ckpt_message(struct rm_farm *f, uint32_t type, uint32_t sender, const unsigned char *p,
                      size_t len)
{
    switch (type) {
    case RM_FARM_CKPT:
        if (len != 8)
            return RM_EPROTO;
        if (f->cfg.checkpoint && (int)sender == f->leader)
            f->io.checkpoint(f->io.ctx, rm_get_u64(p));
        return 0;
    case RM_FARM_CKPT_DONE:
        if (len != 12)
            return RM_EPROTO;
        if (f->leading && f->ckpt_active && rm_get_u64(p) == f->ckpt_seq && f->ckpt_acked &&
            sender < f->cfg.size && !f->ckpt_acked[sender]) {
            f->ckpt_acked[sender] = 1;
            f->ckpt_failed += rm_get_u32(p + 8) != 0;
            check_round(f, now(f));
        }
        return 0;
    case RM_FARM_STOP:
        if (len != 0)
            return RM_EPROTO;
        if (f->leading && !f->ended) {
            rm_warn("rank %u received a stop signal: taking a last checkpoint", sender);
            farm_checkpoint_start(f, true);
        }
        return 0;
    default:
        return RM_EPROTO;
    }
}
