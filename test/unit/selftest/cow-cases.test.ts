/** The COW self-test port's case list: cow.c's 670 cases, none left out for a feature hmmsim lacks. */
import { describe, expect, it } from 'vitest';
import { cowNotModelled, listCowCases } from '../../../src/selftest/cow/index.ts';

describe('listCowCases', () => {
  it('has cow.c’s 670 cases, every one modelled (1 GiB hugetlb pages included)', () => {
    const cases = listCowCases();
    expect(cases).toHaveLength(670);
    expect(new Set(cases.map((c) => c.name)).size).toBe(670);
    expect(cowNotModelled()).toEqual([]);
    const gigantic = cases.filter((c) => c.name.includes('(1048576 kB)'));
    // 12 anonymous tests on a 1 GiB MAP_HUGETLB page, 3 non-anonymous ones on a 1 GiB hugetlb memfd.
    expect(gigantic.filter((c) => c.name.includes('with hugetlb (1048576 kB)'))).toHaveLength(12);
    expect(gigantic.filter((c) => c.name.includes('with memfd hugetlb (1048576 kB)'))).toHaveLength(3);
    expect(gigantic.every((c) => c.notModelled === undefined)).toBe(true);
  });
});
