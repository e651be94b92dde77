// Litmus tests of the heap's handshakes: the try-acquire lock ([HP1]/[HP2], lib/mem/heap.h) and
// the heap-queue messages ([MQ1]/[MQ2], lib/mem/remote_queue.h), on objects of the test's own.
#include <gtest/gtest.h>

#include <memory>

#include "litmus.h"
#include "mem/internal.h"

namespace hoardlab::mem {
namespace {

// [HP1]/[HP2] (message passing through the lock word): what one holder wrote, the next holder
// reads. Both sides enter the heap with try_acquire, read a plain counter, write it back plus
// one, and release. Forbidden: an increment lost (the counter differs from the entries made).
TEST(HeapLock, EachHolderSeesWhatThePreviousHolderWrote) {
  auto heap = std::make_unique<Heap>();
  long counter = 0; // guarded by heap->busy, as a heap's lists are
  long entries[2] = {};
  auto enter = [&](int side) {
    for (int i = 0; i < 8; ++i) {
      if (!heap->try_acquire()) continue;
      counter = counter + 1;
      heap->release_lock();
      ++entries[side];
    }
  };
  litmus::Outcome out = litmus::run([] {}, [&] { enter(0); }, [&] { enter(1); },
                                    [&] { return counter != entries[0] + entries[1]; });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(entries[0] + entries[1], 0);
}

// [MQ1]/[MQ2] (message passing): a sender writes a block's contents and links, then sends it;
// the holder takes the queue and reads them. Forbidden: a taken message whose contents or chain
// link are not what the sender wrote.
TEST(HeapQueue, TheHolderReadsTheChainTheSenderWrote) {
  RemoteQueue queue;
  alignas(16) void* blocks[2][4] = {};
  long round = 0;
  bool bad = false;
  litmus::Outcome out = litmus::run(
      [&] {
        ++round;
        bad = false;
      },
      [&] {
        // The holder: takes whatever has arrived, until the message is in.
        void* m = nullptr;
        while ((m = queue.take_all()) == nullptr) {
        }
        auto** first = static_cast<void**>(m);
        auto** second = static_cast<void**>(first[0]);
        bad = second != blocks[1] || second[0] != nullptr ||
              first[2] != reinterpret_cast<void*>(round) ||
              second[2] != reinterpret_cast<void*>(round);
      },
      [&] {
        // The sender: a chain of two blocks, each carrying the round, as one message.
        blocks[0][0] = blocks[1];
        blocks[0][2] = reinterpret_cast<void*>(round);
        blocks[1][0] = nullptr;
        blocks[1][2] = reinterpret_cast<void*>(round);
        queue.send(blocks[0], blocks[1]);
      },
      [&] { return bad; });
  EXPECT_EQ(out.violations, 0) << "of " << out.rounds << " rounds";
  EXPECT_GT(out.rounds, 0);
}

} // namespace
} // namespace hoardlab::mem
