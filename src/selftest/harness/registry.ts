/**
 * `TEST_F` of the kernel's HMM self-tests, which here registers a test in a {@link SelftestFile}
 * (one case per fixture variant) instead of running it.
 * @module
 */
import {
  fixtureSetupHmm,
  fixtureSetupHmm2,
  fixtureTeardownHmm,
  fixtureTeardownHmm2,
  HMM_VARIANTS,
  HMM2_VARIANTS,
  type Hmm2Self,
  type Hmm2Variant,
  type HmmSelf,
  type HmmVariant,
  type SelftestRunOptions,
} from './fixture.ts';

/**
 * One instance of a kernel self-test: a test function in one fixture variant, named as the
 * kselftest harness prints it.
 */
export interface SelftestCase {
  /** `<fixture>.<variant>.<test>`, e.g. `hmm.hmm_device_private.anon_read`. */
  readonly name: string;
  /** `'hmm'` or `'hmm2'`. */
  readonly fixture: string;
  /** The fixture variant, e.g. `'hmm_device_private'`. */
  readonly variant: string;
  /** The test function's name, e.g. `'anon_read'`. */
  readonly test: string;
  /**
   * The kernel's `TEST_F_TIMEOUT` in milliseconds, where it sets one (the benchmark's 120 s);
   * undefined for the harness default (30 s). Nothing in the port enforces it: runs are in
   * virtual time; a test runner may use it as its wall-clock limit.
   */
  readonly timeout?: number;
  /**
   * Runs the test: the fixture is set up on a new machine, the body runs, the fixture is torn
   * down. Resolves when the test passed; rejects with the first failed assertion
   * (`SelftestAssertionError`) or whatever else the body threw.
   */
  run(options?: SelftestRunOptions): Promise<void>;
}

/** A test registered with `TEST_F`: one per test function, whatever the number of variants. */
export interface SelftestDefinition {
  /** `'hmm'` or `'hmm2'`. */
  readonly fixture: 'hmm' | 'hmm2';
  /** The test function's name. */
  readonly test: string;
  /** The kernel's timeout in milliseconds, if it sets one. */
  readonly timeout?: number;
  /** Its instances, one per variant, in the variants' declaration order. */
  readonly cases: readonly SelftestCase[];
}

/**
 * The tests of one file of the port (the kernel has them all in hmm-tests.c; the port splits
 * them by subject). `TEST_F_hmm` and `TEST_F_hmm2` are its `TEST_F(hmm, …)` and
 * `TEST_F(hmm2, …)`: they register the test, in declaration order, instead of running it. Both
 * are bound, so a file destructures them: `const { TEST_F_hmm } = file;`.
 */
export class SelftestFile {
  /** A short identifier, e.g. `'anon'` (the port's file name). */
  readonly id: string;
  /** What the file covers, e.g. `'hmm-tests.c: anonymous memory'` (the vitest suite's title). */
  readonly title: string;
  /** The registered tests, in declaration order. */
  readonly definitions: SelftestDefinition[] = [];

  /** @param id See {@link SelftestFile.id}. @param title See {@link SelftestFile.title}. */
  constructor(id: string, title: string) {
    this.id = id;
    this.title = title;
  }

  /**
   * `TEST_F(hmm, name)` (or `TEST_F_TIMEOUT` with `timeout` in ms): one case per `hmm` variant,
   * titled like the kselftest harness prints it (`hmm.hmm_device_private.anon_read`), with the
   * fixture set up and torn down around the body.
   */
  readonly TEST_F_hmm = (
    name: string,
    body: (self: HmmSelf, variant: HmmVariant) => Promise<void>,
    timeout?: number,
  ): void => {
    this.define('hmm', name, timeout, HMM_VARIANTS, async (variant, options) => {
      const self = await fixtureSetupHmm(variant, options);
      await body(self, variant);
      await fixtureTeardownHmm(self);
    });
  };

  /** `TEST_F(hmm2, name)`: as {@link SelftestFile.TEST_F_hmm}, over the two-device fixture. */
  readonly TEST_F_hmm2 = (
    name: string,
    body: (self: Hmm2Self, variant: Hmm2Variant) => Promise<void>,
    timeout?: number,
  ): void => {
    this.define('hmm2', name, timeout, HMM2_VARIANTS, async (variant, options) => {
      const self = await fixtureSetupHmm2(variant, options);
      await body(self, variant);
      await fixtureTeardownHmm2(self);
    });
  };

  /** The file's cases in declaration order, each test's variants together. */
  cases(): SelftestCase[] {
    return this.definitions.flatMap((d) => d.cases);
  }

  private define<V extends { readonly name: string }>(
    fixture: 'hmm' | 'hmm2',
    test: string,
    timeout: number | undefined,
    variants: readonly V[],
    run: (variant: V, options: SelftestRunOptions | undefined) => Promise<void>,
  ): void {
    if (this.definitions.some((d) => d.fixture === fixture && d.test === test))
      throw new Error(`TEST_F(${fixture}, ${test}) registered twice in ${this.id}`);
    const cases = variants.map(
      (variant): SelftestCase => ({
        name: `${fixture}.${variant.name}.${test}`,
        fixture,
        variant: variant.name,
        test,
        ...(timeout === undefined ? {} : { timeout }),
        run: (options) => run(variant, options),
      }),
    );
    this.definitions.push({ fixture, test, ...(timeout === undefined ? {} : { timeout }), cases });
  }
}
