// An intrusive doubly linked list: a node is a member of the element, so linking never
// allocates. Layer: core. Not thread-safe: each list is guarded by whoever owns it (a heap's
// lists by the heap's try-acquire flag).
#pragma once

#include <cstddef>

namespace hoardlab::core {

struct ListNode {
  ListNode* prev = nullptr;
  ListNode* next = nullptr;
  bool linked() const noexcept { return next != nullptr; }
};

/// Invariants: a sentinel ring; size_ == number of nodes on the ring other than the sentinel;
/// an unlinked node has next == prev == nullptr.
class IntrusiveList {
public:
  IntrusiveList() noexcept { clear(); }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  // Forgets every node (their links are left dangling: callers use it only on fresh storage).
  void clear() noexcept {
    head_.prev = head_.next = &head_;
    size_ = 0;
  }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  ListNode* front() const noexcept { return empty() ? nullptr : head_.next; }
  ListNode* back() const noexcept { return empty() ? nullptr : head_.prev; }
  // The node after n, or nullptr at the end.
  ListNode* next_of(const ListNode* n) const noexcept {
    return n->next == &head_ ? nullptr : n->next;
  }

  void push_front(ListNode* n) noexcept { insert_after(&head_, n); }
  void push_back(ListNode* n) noexcept { insert_after(head_.prev, n); }
  void remove(ListNode* n) noexcept {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = nullptr;
    --size_;
  }
  ListNode* pop_front() noexcept {
    ListNode* n = front();
    if (n != nullptr) remove(n);
    return n;
  }

private:
  void insert_after(ListNode* at, ListNode* n) noexcept {
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
    ++size_;
  }
  ListNode head_;
  std::size_t size_ = 0;
};

} // namespace hoardlab::core
