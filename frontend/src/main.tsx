import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "react-router";
import { ApiClient, ApiError, localTokenStore } from "./api/client";
import { ApiContext } from "./app";
import { ToastProvider } from "./ui/toast";
import { createAppRouter } from "./router";
import { authLostBus } from "./authLost";
import "./styles.css";

const api = new ApiClient({ store: localTokenStore() });
const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
      refetchOnWindowFocus: false,
      staleTime: 5_000,
    },
  },
});
const router = createAppRouter();
let lostAt = 0;
api.onAuthLost = (reason) => {
  // Several requests in flight can each discover the lost session; tell the user once.
  if (Date.now() - lostAt < 3000) return;
  lostAt = Date.now();
  queryClient.clear();
  authLostBus.emit(reason);
  const here = window.location.pathname;
  if (!here.startsWith("/login") && !here.startsWith("/setup") && !here.startsWith("/register")) {
    void router.navigate(`/login?next=${encodeURIComponent(here + window.location.search)}`);
  }
};

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ApiContext.Provider value={api}>
      <QueryClientProvider client={queryClient}>
        <ToastProvider>
          <RouterProvider router={router} />
        </ToastProvider>
      </QueryClientProvider>
    </ApiContext.Provider>
  </StrictMode>,
);
