// @vitest-environment node
import { expect, it } from "vitest";
import { backoffSeconds } from "../screens/LockScreen";

it("reads the wait from the host's detail, or waits 30 seconds", () => {
  expect(backoffSeconds({ code: "tooManyTries", detail: "12" })).toBe(12);
  expect(backoffSeconds({ code: "tooManyTries", detail: "try again in 45 s" })).toBe(45);
  expect(backoffSeconds({ code: "tooManyTries", detail: null })).toBe(30);
});
