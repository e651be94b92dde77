// Litmus tests of the remote-free handshake (lib/mem/remote.cpp, tags [RF1] [RF2] [AD1] [PN1]
// [PN2] [PN3] [GV1] [GV2] [HN1] [HN2]): the allocator's own steps on a superblock header and a
// heap of the test's own, so that each round starts from a known state.
#include <gtest/gtest.h>

#include <memory>

#include "litmus.h"
#include "mem/internal.h"

namespace hoardlab::mem {
namespace {

// A superblock header, its owner heap and one block, outside the allocator's arenas: the steps
// under test touch only the header's remote line and owner, and the heap's pending stack.
struct Stage {
  std::unique_ptr<Superblock> sb = std::make_unique<Superblock>();
  std::unique_ptr<Heap> heap = std::make_unique<Heap>();
  alignas(16) void* block[2] = {};

  void reset(Heap* owner, bool claimed) {
    sb->remote_head.store_relaxed(nullptr);
    sb->pending_next.store_relaxed(nullptr);
    sb->in_pending.store_relaxed(claimed);
    sb->owner.store_relaxed(owner);
    heap->pending_head.store_relaxed(nullptr);
  }
  void push() { push_chain(sb.get(), block, block); }
  bool listed() const { return sb->remote_head.load_relaxed() != nullptr; }
  // Announced: on the owner's pending stack (alone: the only superblock here), claimed.
  bool announced() const {
    return sb->in_pending.load_relaxed() && heap->pending_head.load_relaxed() == sb.get() &&
           sb->pending_next.load_relaxed() == nullptr;
  }
  bool on_stack() const { return heap->pending_head.load_relaxed() != nullptr; }
};

// [PN2] against [RF1]+[PN1] (store buffering): the holder has just taken sb off its pending stack
// and gives the claim back, then looks at the list; a pusher pushes onto the empty list, then
// tries to claim. Forbidden: the holder saw no block, and the block sits in the list unannounced
// (every later push would find the list non-empty and stay silent: the blocks are stranded).
TEST(RemoteHandshake, AHolderGivingBackItsClaimSeesThePushThatReliedOnIt) {
  Stage s;
  bool seen = false;
  litmus::Outcome out = litmus::run(
      [&] { s.reset(s.heap.get(), true); }, [&] { seen = release_pending_claim(s.sb.get()); },
      [&] { s.push(); }, [&] { return !seen && s.listed() && !s.announced(); });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

// [AD1] (store buffering): adopt stores the owner, then takes the list; a pusher pushes onto the
// pooled superblock's empty list, then loads the owner. Forbidden: the adopter took nothing and
// the block sits in the list unannounced to the new owner.
TEST(RemoteHandshake, AnAdopterTakesThePushOrThePusherTellsTheNewOwner) {
  Stage s;
  void* taken = nullptr;
  litmus::Outcome out = litmus::run(
      [&] { s.reset(nullptr, false); },
      [&] {
        s.sb->owner.store_release(s.heap.get()); // adopt [OW1]
        taken = take_list(s.sb.get());
      },
      [&] { s.push(); }, [&] { return taken == nullptr && s.listed() && !s.announced(); });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

// [GV1]/[GV2] with [PN1]/[PN3]: a holder gives sb to the pool (claim, take the list, owner =
// nullptr, give the claim back) while a pusher pushes and notifies. Forbidden: a pooled
// superblock left claimed or on the old owner's pending stack (its later pushes would never be
// announced to a new owner), or the block lost (neither taken by the giver nor in the list for
// the pool's next popper); a superblock that stays (claim refused) must be announced.
TEST(RemoteHandshake, AGiverAndANotifierLeaveNoClaimOnAPooledSuperblock) {
  Stage s;
  bool gave = false;
  void* taken = nullptr;
  litmus::Outcome out = litmus::run(
      [&] {
        s.reset(s.heap.get(), false);
        gave = false;
        taken = nullptr;
      },
      [&] {
        if (!claim_for_give(s.sb.get())) return; // a notification in flight: sb stays
        taken = take_list(s.sb.get());
        s.sb->owner.store_release(nullptr); // [OW1]
        release_give_claim(s.sb.get());
        gave = true;
      },
      [&] { s.push(); },
      [&] {
        if (!gave) return !(s.listed() && s.announced());
        const bool claimed = s.sb->in_pending.load_relaxed();
        const bool block_kept = (taken != nullptr) != s.listed(); // in exactly one place
        return claimed || s.on_stack() || !block_kept;
      });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

// [PN3]: a notifier that claimed in_pending and then finds the superblock pooled gives the claim
// back by RMW and looks again, since a push that found its claim set relied on it. One thread
// gives the superblock to the pool, adopts it again and pushes a block; the other pushes a block
// and notifies with the owner it read before the give. Forbidden: a block in the list of an
// owned superblock that is not announced.
TEST(RemoteHandshake, APushThatFoundATransientClaimIsAnnouncedByTheClaimsHolder) {
  Stage s;
  void* taken[2] = {};
  litmus::Outcome out = litmus::run(
      [&] {
        s.reset(s.heap.get(), false);
        taken[0] = taken[1] = nullptr;
      },
      [&] {
        if (!claim_for_give(s.sb.get())) return; // the other side's notification came first
        taken[0] = take_list(s.sb.get());
        s.sb->owner.store_release(nullptr); // given [OW1]
        release_give_claim(s.sb.get());
        s.sb->owner.store_release(s.heap.get()); // adopted [OW1]
        taken[1] = take_list(s.sb.get());        // [AD1]
        push_chain(s.sb.get(), &s.block[1], &s.block[1]);
      },
      [&] { s.push(); },
      [&] {
        const bool owned = s.sb->owner.load_relaxed() != nullptr;
        return owned && s.listed() && !s.announced();
      });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab::mem
