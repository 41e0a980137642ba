/**
 * An interval tree over inclusive `[start, last]` intervals (include/linux/interval_tree.h,
 * include/linux/interval_tree_generic.h): the structure the kernel keeps the interval
 * subscriptions of an mm in.
 *
 * Like the kernel's, it is intrusive (a node is embedded in the object it indexes and points back
 * to it), ordered by `start` (equal starts keep their insertion order, as the kernel's rbtree puts
 * an equal key to the right), augmented with the largest `last` of each subtree, and walked with
 * `iterFirst` / `iterNext` without any allocation. The balancing is AVL instead of red-black; only
 * the in-order sequence is observable, and it is the same.
 *
 * Bounds are numbers (addresses up to 2^64 as doubles). Costs: insert and remove O(log n);
 * `iterFirst` O(log n); each `iterNext` O(log n) worst case, so a walk over the k overlapping
 * intervals costs O((k + 1) log n) at worst, the kernel's bound, and O(log n + k) when the
 * overlapping intervals are contiguous in start order.
 * @module
 */
import { kernelBug, UsageError } from '../sim/errors.ts';

/**
 * One interval in an {@link IntervalTree} (`struct interval_tree_node`). Set `start` and `last`
 * before inserting it, and do not change them while it is in a tree.
 */
export class IntervalTreeNode<T> {
  /** First point of the interval. */
  start = 0;
  /** Last point of the interval (inclusive). */
  last = 0;
  /** The object this node is embedded in (the kernel's `container_of`). */
  readonly value: T;
  /** True while the node is linked in a tree (the kernel tests `!RB_EMPTY_NODE`). */
  inTree = false;
  /** @internal largest `last` in this node's subtree (`__subtree_last`). */
  subtreeLast = 0;
  /** @internal AVL height of this node's subtree (a leaf is 1). */
  height = 0;
  /** @internal */
  left: IntervalTreeNode<T> | null = null;
  /** @internal */
  right: IntervalTreeNode<T> | null = null;
  /** @internal */
  parent: IntervalTreeNode<T> | null = null;

  /** @param value the object that embeds this node */
  constructor(value: T) {
    this.value = value;
  }
}

/** An interval tree of intrusive {@link IntervalTreeNode}s (`struct rb_root_cached` used as an interval tree). */
export class IntervalTree<T> {
  /** @internal the root node, or null when empty. */
  root: IntervalTreeNode<T> | null = null;
  /** Number of nodes in the tree. */
  size = 0;

  /** `interval_tree_insert`: links `node`, after every node with the same `start`. */
  insert(node: IntervalTreeNode<T>): void {
    if (node.inTree) throw new UsageError('IntervalTree.insert', 'the node is already in a tree');
    if (!(node.start <= node.last)) {
      throw new UsageError('IntervalTree.insert', `start ${node.start} is above last ${node.last}`);
    }
    node.left = null;
    node.right = null;
    node.height = 1;
    node.subtreeLast = node.last;
    node.inTree = true;
    this.size++;
    let p = this.root;
    if (p === null) {
      node.parent = null;
      this.root = node;
      return;
    }
    for (;;) {
      if (node.start < p.start) {
        if (p.left === null) {
          p.left = node;
          break;
        }
        p = p.left;
      } else {
        if (p.right === null) {
          p.right = node;
          break;
        }
        p = p.right;
      }
    }
    node.parent = p;
    this.retrace(p);
  }

  /** `interval_tree_remove`: unlinks `node`, which must be in this tree. */
  remove(node: IntervalTreeNode<T>): void {
    if (!node.inTree) throw new UsageError('IntervalTree.remove', 'the node is not in a tree');
    let fixFrom: IntervalTreeNode<T> | null;
    const l = node.left;
    const r = node.right;
    if (l === null || r === null) {
      const child = l ?? r;
      fixFrom = node.parent;
      this.replaceChild(node.parent, node, child);
      if (child !== null) child.parent = node.parent;
    } else {
      // Two children: the in-order successor (leftmost of the right subtree) takes the node's place.
      let s = r;
      while (s.left !== null) s = s.left;
      if (s === r) {
        fixFrom = s;
      } else {
        fixFrom = s.parent;
        this.replaceChild(s.parent, s, s.right);
        if (s.right !== null) s.right.parent = s.parent;
        s.right = r;
        r.parent = s;
      }
      s.left = l;
      l.parent = s;
      this.replaceChild(node.parent, node, s);
      s.parent = node.parent;
    }
    node.left = null;
    node.right = null;
    node.parent = null;
    node.inTree = false;
    this.size--;
    if (fixFrom !== null) this.retrace(fixFrom);
  }

  /**
   * `interval_tree_iter_first`: the first node (lowest start) overlapping `[start, last]`, or null.
   */
  iterFirst(start: number, last: number): IntervalTreeNode<T> | null {
    const root = this.root;
    if (root === null || root.subtreeLast < start) return null;
    return subtreeSearch(root, start, last);
  }

  /**
   * `interval_tree_iter_next`: the node after `node` in start order that overlaps `[start, last]`,
   * or null. The tree must not have changed since `node` was returned.
   */
  iterNext(node: IntervalTreeNode<T>, start: number, last: number): IntervalTreeNode<T> | null {
    let n = node;
    let rb = n.right;
    for (;;) {
      // Overlaps later in order are in the right subtree, or at an ancestor we reach from its left.
      if (rb !== null && start <= rb.subtreeLast) return subtreeSearch(rb, start, last);
      let prev: IntervalTreeNode<T>;
      do {
        const up = n.parent;
        if (up === null) return null;
        prev = n;
        n = up;
        rb = n.right;
      } while (prev === rb);
      if (last < n.start) return null;
      if (start <= n.last) return n;
    }
  }

  /** Every node overlapping `[start, last]`, in start order (a convenience over iterFirst/iterNext). */
  overlapping(start: number, last: number): IntervalTreeNode<T>[] {
    const out: IntervalTreeNode<T>[] = [];
    for (let n = this.iterFirst(start, last); n !== null; n = this.iterNext(n, start, last)) out.push(n);
    return out;
  }

  /** Every node in start order. */
  nodes(): IntervalTreeNode<T>[] {
    const out: IntervalTreeNode<T>[] = [];
    const walk = (n: IntervalTreeNode<T> | null): void => {
      if (n === null) return;
      walk(n.left);
      out.push(n);
      walk(n.right);
    };
    walk(this.root);
    return out;
  }

  /**
   * Checks every structural invariant (order, parent links, heights, AVL balance, subtree maxima,
   * size) and throws an Error naming the first one broken. For tests and debugging.
   */
  validate(): void {
    let count = 0;
    const check = (n: IntervalTreeNode<T> | null, parent: IntervalTreeNode<T> | null): number => {
      if (n === null) return 0;
      count++;
      if (!n.inTree) kernelBug('interval tree: linked node not marked inTree');
      if (n.parent !== parent) kernelBug(`interval tree: bad parent link at [${n.start}, ${n.last}]`);
      if (n.left !== null && n.left.start > n.start) kernelBug('interval tree: left child starts later');
      if (n.right !== null && n.right.start < n.start) kernelBug('interval tree: right child starts earlier');
      const hl = check(n.left, n);
      const hr = check(n.right, n);
      if (Math.abs(hl - hr) > 1) kernelBug('interval tree: AVL balance broken');
      if (n.height !== 1 + Math.max(hl, hr)) kernelBug('interval tree: stale height');
      const max = Math.max(n.last, n.left?.subtreeLast ?? n.last, n.right?.subtreeLast ?? n.last);
      if (n.subtreeLast !== max) kernelBug('interval tree: stale subtreeLast');
      return n.height;
    };
    check(this.root, null);
    if (count !== this.size) kernelBug(`interval tree: size ${this.size} but ${count} nodes linked`);
  }

  /** Recomputes height and subtreeLast from `n` up to the root, rebalancing on the way. */
  private retrace(n: IntervalTreeNode<T> | null): void {
    while (n !== null) {
      const up = n.parent;
      this.rebalance(n);
      n = up;
    }
  }

  private rebalance(n: IntervalTreeNode<T>): void {
    update(n);
    const bf = heightOf(n.left) - heightOf(n.right);
    if (bf > 1) {
      const l = n.left!;
      if (heightOf(l.left) < heightOf(l.right)) this.rotateLeft(l);
      this.rotateRight(n);
    } else if (bf < -1) {
      const r = n.right!;
      if (heightOf(r.right) < heightOf(r.left)) this.rotateRight(r);
      this.rotateLeft(n);
    }
  }

  private rotateLeft(x: IntervalTreeNode<T>): void {
    const y = x.right!;
    x.right = y.left;
    if (y.left !== null) y.left.parent = x;
    y.parent = x.parent;
    this.replaceChild(x.parent, x, y);
    y.left = x;
    x.parent = y;
    update(x);
    update(y);
  }

  private rotateRight(x: IntervalTreeNode<T>): void {
    const y = x.left!;
    x.left = y.right;
    if (y.right !== null) y.right.parent = x;
    y.parent = x.parent;
    this.replaceChild(x.parent, x, y);
    y.right = x;
    x.parent = y;
    update(x);
    update(y);
  }

  private replaceChild(
    parent: IntervalTreeNode<T> | null,
    old: IntervalTreeNode<T>,
    nu: IntervalTreeNode<T> | null,
  ): void {
    if (parent === null) this.root = nu;
    else if (parent.left === old) parent.left = nu;
    else parent.right = nu;
  }
}

function heightOf<T>(n: IntervalTreeNode<T> | null): number {
  return n === null ? 0 : n.height;
}

function update<T>(n: IntervalTreeNode<T>): void {
  const l = n.left;
  const r = n.right;
  let h = 0;
  let max = n.last;
  if (l !== null) {
    h = l.height;
    if (l.subtreeLast > max) max = l.subtreeLast;
  }
  if (r !== null) {
    if (r.height > h) h = r.height;
    if (r.subtreeLast > max) max = r.subtreeLast;
  }
  n.height = h + 1;
  n.subtreeLast = max;
}

/**
 * The first node in start order within `node`'s subtree that overlaps `[start, last]`, given that
 * `node.subtreeLast >= start`: it descends to the first node whose `last` reaches `start`, and
 * that node overlaps unless it starts after `last` (then every later one does too).
 */
function subtreeSearch<T>(
  node: IntervalTreeNode<T>,
  start: number,
  last: number,
): IntervalTreeNode<T> | null {
  for (;;) {
    const l = node.left;
    if (l !== null && start <= l.subtreeLast) {
      node = l;
      continue;
    }
    if (node.start > last) return null;
    if (start <= node.last) return node;
    const r = node.right;
    if (r === null || r.subtreeLast < start) return null;
    node = r;
  }
}
