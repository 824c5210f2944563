// The live cell the tests run against (scripts/sdk.sh starts it and sets these).
import { createCellClient, type CellClient, type SuitePaths, type Tokens } from "../src/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the SDK's tests with scripts/sdk.sh`);
  return value;
}

export const baseUrl = env("CELL_URL");
export const email = env("CELL_EMAIL");
export const password = env("CELL_PASSWORD");

/** A client of the live suite cell, signed in as the test user. */
export async function signedIn(onTokens?: (t: Tokens | undefined) => void): Promise<CellClient<SuitePaths>> {
  const options = onTokens ? { baseUrl, onTokens } : { baseUrl };
  const cell = createCellClient<SuitePaths>(options);
  await cell.login(email, password);
  return cell;
}

/** A name no other run used. */
export const unique = (prefix: string) => `${prefix} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
