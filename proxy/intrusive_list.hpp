// A minimal intrusive doubly linked list: an object's state says which list holds it (PgBouncer's
// habit), and moving it between lists never allocates.
#pragma once

#include <cstddef>

namespace portico::proxy {

struct ListHook {
    ListHook* prev = nullptr;
    ListHook* next = nullptr;
    void* owner = nullptr;  // the object this hook is embedded in
    bool linked() const { return prev != nullptr; }
};

template <class T, ListHook T::*Hook>
class IntrusiveList {
public:
    IntrusiveList() { head_.prev = head_.next = &head_; }
    IntrusiveList(const IntrusiveList&) = delete;
    IntrusiveList& operator=(const IntrusiveList&) = delete;

    bool empty() const { return head_.next == &head_; }
    size_t size() const { return size_; }

    void push_back(T* item) { insert_before(&head_, item); }
    void push_front(T* item) { insert_before(head_.next, item); }
    void remove(T* item) {
        ListHook* h = &(item->*Hook);
        if (!h->linked()) return;
        h->prev->next = h->next;
        h->next->prev = h->prev;
        h->prev = h->next = nullptr;
        --size_;
    }
    T* front() const { return empty() ? nullptr : from_hook(head_.next); }
    T* back() const { return empty() ? nullptr : from_hook(head_.prev); }
    T* pop_front() {
        T* item = front();
        if (item != nullptr) remove(item);
        return item;
    }
    T* pop_back() {
        T* item = back();
        if (item != nullptr) remove(item);
        return item;
    }
    // Calls fn on each item; fn may remove the item it is given.
    template <class Fn>
    void for_each(Fn fn) {
        ListHook* h = head_.next;
        while (h != &head_) {
            ListHook* next = h->next;
            fn(from_hook(h));
            h = next;
        }
    }

private:
    static T* from_hook(ListHook* h) { return static_cast<T*>(h->owner); }
    void insert_before(ListHook* position, T* item) {
        ListHook* h = &(item->*Hook);
        h->owner = item;
        h->next = position;
        h->prev = position->prev;
        position->prev->next = h;
        position->prev = h;
        ++size_;
    }

    ListHook head_;
    size_t size_ = 0;
};

}  // namespace portico::proxy
