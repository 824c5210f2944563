// Generates `src/generated/<cell>.ts` (the `paths` and `components` types of each cell's API)
// from the committed OpenAPI documents in `../docs/openapi/`, which each cell's route-walk test
// keeps equal to what the cell serves. The generated files are build output (not committed).
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import openapiTS, { astToString } from "openapi-typescript";

const docs = new URL("../../docs/openapi/", import.meta.url);
const out = new URL("../src/generated/", import.meta.url);
await mkdir(out, { recursive: true });
const cells = (await readdir(docs)).filter((f) => f.endsWith(".json")).sort();
for (const file of cells) {
  const schema = JSON.parse(await readFile(new URL(file, docs), "utf8"));
  const ast = await openapiTS(schema);
  const name = file.replace(/\.json$/, "");
  const banner = `// Generated from docs/openapi/${file} by scripts/generate.mjs: do not edit.\n\n`;
  await writeFile(new URL(`${name}.ts`, out), banner + astToString(ast));
  console.log(`generated src/generated/${name}.ts`);
}
