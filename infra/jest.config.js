// Type checking is `npm run build` (tsc); ts-jest only transpiles (isolatedModules in
// tsconfig.json), so the tests start fast.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': 'ts-jest',
  },
};
