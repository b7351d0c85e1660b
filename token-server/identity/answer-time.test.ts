import { describe, expect, it } from 'vitest';
import { AnswerTime } from './answer-time.js';

describe('AnswerTime', () => {
  it.each<[string, number[], number | undefined]>([
    ['nothing observed: nothing known (the caller assumes the slowest)', [], undefined],
    ['the first answer is the expectation', [40], 40],
    ['a slower answer raises it halfway at once', [40, 120], 80],
    ['a faster answer lowers it by a twentieth of the gap', [100, 20], 96],
    ['ten fast answers after a slow one still leave most of it', [200, ...Array<number>(10).fill(20)], 20 + 180 * 0.95 ** 10],
  ])('%s', (_sentence, answers, expected) => {
    const time = new AnswerTime();
    for (const ms of answers) time.observe(ms);
    if (expected === undefined) expect(time.expectedMs).toBeUndefined();
    else expect(time.expectedMs).toBeCloseTo(expected, 6);
  });
});
