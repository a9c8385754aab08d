import { createBrowserRouter } from "react-router";
import { Shell, RequireAuth } from "./pages/Shell";
import { SetupPage, LoginPage, RegisterPage } from "./pages/Auth";
import { ProjectsPage } from "./pages/Projects";
import { NotFound, RouteError } from "./pages/NotFound";
import { Spinner } from "./ui/controls";

export function createAppRouter() {
  return createBrowserRouter([
    {
      element: <Shell />,
      errorElement: <RouteError />,
      hydrateFallbackElement: <Spinner />,
      children: [
        { path: "/setup", element: <SetupPage /> },
        { path: "/login", element: <LoginPage /> },
        { path: "/register", element: <RegisterPage /> },
        {
          element: <RequireAuth />,
          children: [
            { index: true, element: <ProjectsPage /> },
            { path: "/projects", element: <ProjectsPage /> },
            { path: "/projects/:projectId", lazy: async () => ({ Component: (await import("./canvas/CanvasPage")).CanvasPage }) },
            {
              path: "/projects/:projectId/settings",
              lazy: async () => ({ Component: (await import("./pages/ProjectSettings")).ProjectSettingsPage }),
            },
            { path: "/profile", lazy: async () => ({ Component: (await import("./pages/Profile")).ProfilePage }) },
            { path: "/admin", lazy: async () => ({ Component: (await import("./pages/Admin")).AdminPage }) },
          ],
        },
        { path: "*", element: <NotFound /> },
      ],
    },
  ]);
}
