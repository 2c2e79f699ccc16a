# nova-fleet: build with dev dependencies, run with production ones only, as a non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY scripts ./scripts
# `npm ci` runs the `prepare` script, which compiles TypeScript to dist/ and bundles the CLI (dist/cli).
RUN npm ci

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the TypeScript build) needs dev dependencies; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY jobs ./jobs
USER node
ENTRYPOINT ["node", "bin/nova-fleet.js"]
CMD ["--help"]
